// The scheduler's decision, pure: among Ready, schedulable nodes whose labels satisfy the
// pod's nodeSelector (and required node affinity's matchExpressions on labels), the one with
// the fewest pods; ties go to the lexically first name so the choice is deterministic.
// Taints, resources and pod (anti-)affinity are not considered.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { matchesLabelMap, matchesLabelSelector } from '@ambient/api/kube';

export function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function nodeFitsPod(node: V1Node, pod: V1Pod): boolean {
  const labels = node.metadata?.labels ?? {};
  if (pod.spec?.nodeSelector && !matchesLabelMap(pod.spec.nodeSelector, labels)) return false;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && terms.length > 0) {
    // Terms are ORed; expressions within a term ANDed, like label selector expressions.
    const ok = terms.some((t) =>
      matchesLabelSelector(
        {
          matchExpressions: (t.matchExpressions ?? [])
            .map((e) => ({ key: e.key, operator: e.operator, values: e.values ?? [] }))
            .filter((e) => ['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)),
        },
        labels,
      ),
    );
    if (!ok) return false;
  }
  return true;
}

/** @returns the chosen node's name, or undefined when no node fits. */
export function pickNode(pod: V1Pod, nodes: V1Node[], podsPerNode: ReadonlyMap<string, number>): string | undefined {
  let best: { name: string; load: number } | undefined;
  for (const node of nodes) {
    const name = node.metadata?.name;
    if (!name || node.spec?.unschedulable || !isNodeReady(node) || !nodeFitsPod(node, pod)) continue;
    const load = podsPerNode.get(name) ?? 0;
    if (!best || load < best.load || (load === best.load && name < best.name)) best = { name, load };
  }
  return best?.name;
}
