// What an AuthorizationPolicy says, read defensively: where it is enforced, its action, scope
// and rules, and which of its attributes only an HTTP proxy can evaluate.
import type { KubeObject, Manifest } from './finding.ts';
import { listOf, stringMap, stringOf } from './kube-fields.ts';

/** Istio's L4 condition keys; every other `when` key needs the HTTP request (or TLS SNI). */
const l4WhenKeys = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);
const httpOperationFields = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const httpSourceFields = ['requestPrincipals', 'notRequestPrincipals', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;

/** targetRefs, or the older single targetRef: a policy with either is the waypoint's, not ztunnel's. */
export function targetRefsOf(policy: KubeObject): Manifest[] {
  const spec = policy.spec ?? {};
  const refs = listOf(spec.targetRefs);
  if (refs.length > 0) return refs;
  return typeof spec.targetRef === 'object' && spec.targetRef !== null ? [spec.targetRef] : [];
}

export function enforcedByZtunnel(policy: KubeObject): boolean {
  return targetRefsOf(policy).length === 0;
}

export function actionOf(policy: KubeObject): string {
  return stringOf(policy.spec?.action) ?? 'ALLOW';
}

/** matchLabels; empty means namespace-wide (or mesh-wide in the root namespace). */
export function selectorOf(policy: KubeObject): Record<string, string> {
  return stringMap(policy.spec?.selector?.matchLabels);
}

export function rulesOf(policy: KubeObject): Manifest[] {
  return listOf(policy.spec?.rules).map((r) => (typeof r === 'object' && r !== null ? r : {}));
}

/** The rule's fields ztunnel cannot evaluate, as paths inside the rule ("to.operation.methods"). */
export function httpAttributesOf(rule: Manifest): string[] {
  const found = new Set<string>();
  for (const to of listOf(rule?.to)) {
    for (const f of httpOperationFields) if (listOf(to?.operation?.[f]).length > 0) found.add(`to.operation.${f}`);
  }
  for (const from of listOf(rule?.from)) {
    for (const f of httpSourceFields) if (listOf(from?.source?.[f]).length > 0) found.add(`from.source.${f}`);
  }
  for (const when of listOf(rule?.when)) {
    const key = stringOf(when?.key);
    if (key !== undefined && !l4WhenKeys.has(key)) found.add(`when ${key}`);
  }
  return [...found];
}
