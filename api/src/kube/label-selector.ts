// Whether an object's labels satisfy a selector, in the two shapes Kubernetes objects carry:
// a plain map (Service `spec.selector`, `nodeSelector`, Istio `selector.matchLabels`) and the
// structured metav1.LabelSelector (`matchLabels` + `matchExpressions`). Parsing the
// `?labelSelector=` query syntax is the API server's business, not this file's.

export type Labels = Readonly<Record<string, string>> | undefined;

/** metav1.LabelSelector, as client-node's V1LabelSelector and raw JSON both carry it. */
export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}

/** A map selector: every key present with that value. An empty or missing map matches
 *  everything; where an empty selector means "nothing" (a Service's), the caller decides first. */
export function matchesLabelMap(selector: Readonly<Record<string, string>> | undefined, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels?.[k] !== v) return false;
  return true;
}

/** A structured selector; a missing one selects nothing (a workload's `spec.selector`), `{}`
 *  selects everything. An operator other than In, NotIn, Exists, DoesNotExist matches nothing:
 *  the API server validates selectors, so this only guards against what slipped past it. */
export function matchesLabelSelector(selector: LabelSelector | undefined | null, labels: Labels): boolean {
  if (!selector) return false;
  if (!matchesLabelMap(selector.matchLabels, labels)) return false;
  return (selector.matchExpressions ?? []).every((e) => {
    const value = labels !== undefined && Object.hasOwn(labels, e.key) ? labels[e.key] : undefined;
    const has = value !== undefined;
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        return has && values.includes(value);
      case 'NotIn':
        return !has || !values.includes(value);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}
