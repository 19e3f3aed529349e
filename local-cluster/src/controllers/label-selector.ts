// Label selectors as controllers use them, on top of the API server's selector semantics.
import type { V1LabelSelector } from '@kubernetes/client-node';
import { labelSelectorFromObject } from '../apimachinery/label-selector.ts';

type Labels = Record<string, string> | undefined;

/** A Service-style selector (plain map): every key must match. An empty map matches nothing
 *  for Services, so callers decide about emptiness; here an empty map matches everything. */
export function matchesLabelMap(selector: Record<string, string>, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** A workload's selector (metav1.LabelSelector); a missing one selects nothing. */
export function matchesLabelSelector(selector: V1LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  return labelSelectorFromObject(selector as Parameters<typeof labelSelectorFromObject>[0])(labels);
}
