// The agent's reads of the API server (get/list pods; RBAC in deploy/daemonset/istio-cni-node.yaml):
// a pod's uid and metadata for an ADD, and the node's pods for the reconcile at start.
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '@ambient/api/kube';
import type { NodePod } from './agent.ts';
import type { PodFacts, PodLookup } from './plugin-handler.ts';

export function podApi(kc: KubeConfig, nodeName: string): { lookup: PodLookup; nodePods: () => Promise<NodePod[]> } {
  const core = kc.makeApiClient(CoreV1Api);
  const facts = (p: V1Pod): PodFacts => ({
    uid: p.metadata?.uid ?? '',
    labels: { ...p.metadata?.labels },
    annotations: { ...p.metadata?.annotations },
    serviceAccount: p.spec?.serviceAccountName ?? 'default',
  });
  return {
    async lookup(namespace, name) {
      try {
        const pod = await core.readNamespacedPod({ namespace, name });
        return pod.metadata?.deletionTimestamp ? null : facts(pod);
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async nodePods() {
      const list = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` });
      return list.items
        .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
        .map((p) => ({
          ...facts(p),
          name: p.metadata?.name ?? '',
          namespace: p.metadata?.namespace ?? '',
          ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
          hostNetwork: p.spec?.hostNetwork === true,
        }));
    },
  };
}
