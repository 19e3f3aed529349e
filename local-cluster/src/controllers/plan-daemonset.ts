// The DaemonSet controller's decision, pure: one pod per eligible node (Ready and matching
// the template's nodeSelector / required node affinity), `spec.nodeName` set directly as the
// real controller does. A pod from an older template is replaced one node at a time, and only
// while every other pod of the set is ready (RollingUpdate with maxUnavailable 1).
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { isNodeReady, nodeFitsPod } from './pick-node.ts';
import { controllerRef, deletionOrder, isPodReady } from './pod-facts.ts';
import { templateHash } from './plan-deployment.ts';

export interface DaemonSetStatus {
  observedGeneration: number;
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  updatedNumberScheduled: number;
  numberAvailable: number;
  numberUnavailable: number;
}

export interface DaemonSetPlan {
  templateHash: string;
  /** Node names that need a pod. */
  createOn: string[];
  deletePods: string[];
  status: DaemonSetStatus;
}

export const DAEMONSET_HASH_LABEL = 'controller-revision-hash';

export function planDaemonSet(ds: V1DaemonSet, nodes: V1Node[], pods: V1Pod[]): DaemonSetPlan {
  const hash = templateHash(ds.spec?.template);
  const probe: V1Pod = { spec: ds.spec?.template?.spec ?? { containers: [] } };
  const eligible = new Set(nodes.filter((n) => isNodeReady(n) && nodeFitsPod(n, probe)).map((n) => n.metadata!.name!));
  const byNode = new Map<string, V1Pod[]>();
  for (const p of pods) {
    const node = p.spec?.nodeName ?? '';
    byNode.set(node, [...(byNode.get(node) ?? []), p]);
  }
  const createOn: string[] = [];
  const deletePods: string[] = [];
  let misscheduled = 0;
  for (const [node, list] of byNode) {
    if (!eligible.has(node)) {
      misscheduled++;
      deletePods.push(...list.map((p) => p.metadata!.name!));
    } else if (list.length > 1) {
      // Keep the best one: the current template and ready beat the rest.
      const sorted = [...list].sort((a, b) => keepRank(b, hash) - keepRank(a, hash) || deletionOrder(b, a));
      deletePods.push(...sorted.slice(1).map((p) => p.metadata!.name!));
    }
  }
  for (const node of [...eligible].sort()) if (!byNode.has(node)) createOn.push(node);

  const scheduled = [...eligible].map((n) => byNode.get(n)?.[0]).filter((p): p is V1Pod => p !== undefined);
  const ready = scheduled.filter(isPodReady).length;
  const updated = scheduled.filter((p) => p.metadata?.labels?.[DAEMONSET_HASH_LABEL] === hash);
  const outdated = scheduled.filter((p) => p.metadata?.labels?.[DAEMONSET_HASH_LABEL] !== hash && !deletePods.includes(p.metadata!.name!));
  if (outdated.length > 0 && ready === scheduled.length && createOn.length === 0) {
    deletePods.push([...outdated].sort(deletionOrder)[0]!.metadata!.name!);
  }
  return {
    templateHash: hash,
    createOn,
    deletePods,
    status: {
      observedGeneration: ds.metadata?.generation ?? 0,
      desiredNumberScheduled: eligible.size,
      currentNumberScheduled: scheduled.length,
      numberMisscheduled: misscheduled,
      numberReady: ready,
      updatedNumberScheduled: updated.length,
      numberAvailable: ready,
      numberUnavailable: Math.max(0, eligible.size - ready),
    },
  };
}

function keepRank(p: V1Pod, hash: string): number {
  return (p.metadata?.labels?.[DAEMONSET_HASH_LABEL] === hash ? 2 : 0) + (isPodReady(p) ? 1 : 0);
}

export function daemonSetPod(ds: V1DaemonSet, hash: string, nodeName: string, suffix: string): V1Pod {
  const template = ds.spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${ds.metadata?.name}-${suffix}`,
      namespace: ds.metadata?.namespace,
      labels: { ...template.metadata?.labels, [DAEMONSET_HASH_LABEL]: hash },
      annotations: { ...template.metadata?.annotations },
      ownerReferences: [controllerRef('apps/v1', 'DaemonSet', ds)],
    },
    spec: { ...structuredClone(template.spec ?? { containers: [] }), nodeName },
  };
}
