// Each node's ztunnel and what its admin `/config_dump` says: the workloads, services and
// policies it was sent, its certificates, and the pods it captured with their connections.
import { ports } from '@ambient/api';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeContext } from './kube-context.ts';
import { getFromPod } from './proxy-admin.ts';

export const ISTIO_NAMESPACE = 'istio-system';
export const ZTUNNEL_SELECTOR = 'app=ztunnel';

/** The parts of a ztunnel's config_dump the plugin reads (ztunnel/src/app.ts writes it). */
export interface ZtunnelDump {
  node?: string;
  workloads: DumpWorkload[];
  services: DumpService[];
  policies: DumpPolicy[];
  certificates: DumpCertificate[];
  captured: { uid: string; ip: string; identity: string; connections: { outbound: number; hbone: number; plaintext: number } }[];
}
export interface DumpWorkload {
  uid: string;
  name: string;
  namespace: string;
  node?: string;
  addresses?: string[];
  identity?: string;
  tunnelProtocol?: string;
  status?: string;
  waypoint?: { address?: string; hostname?: string } | null;
}
export interface DumpService {
  name: string;
  namespace: string;
  hostname: string;
  addresses?: string[];
  waypoint?: { address?: string; hostname?: string } | null;
  endpoints?: { ready?: boolean }[];
}
export interface DumpPolicy {
  name: string;
  namespace: string;
  scope: string;
  action: string;
}
export interface DumpCertificate {
  identity: string;
  state: string;
  chain: { subject: string; uris: string[]; serial: string; notBefore: string; notAfter: string }[];
}

export interface NodeDump {
  node: string;
  pod: V1Pod;
  dump?: ZtunnelDump;
  /** Why the dump could not be read (for display). */
  failure?: string;
}

export async function ztunnelPods(ctx: KubeContext, node?: string): Promise<V1Pod[]> {
  const pods = (await ctx.core.listNamespacedPod({ namespace: ISTIO_NAMESPACE, labelSelector: ZTUNNEL_SELECTOR })).items;
  return pods.filter((p) => !node || p.spec?.nodeName === node).sort((a, b) => (a.spec?.nodeName ?? '').localeCompare(b.spec?.nodeName ?? ''));
}

/** Every (or one node's) ztunnel's dump; a ztunnel that does not answer is reported, not thrown. */
export async function ztunnelDumps(ctx: KubeContext, opts: { node?: string; forwardedAdmin?: string } = {}): Promise<NodeDump[]> {
  const pods = await ztunnelPods(ctx, opts.node);
  if (pods.length === 0) throw new Error(`no ztunnel pod${opts.node ? ` on node ${opts.node}` : ''} in ${ISTIO_NAMESPACE} (label ${ZTUNNEL_SELECTOR})`);
  if (opts.forwardedAdmin && pods.length > 1) throw new Error('--admin-address reads one forwarded ztunnel: pick its node with --node');
  return Promise.all(
    pods.map(async (pod): Promise<NodeDump> => {
      const node = pod.spec?.nodeName ?? '';
      try {
        const text = await getFromPod({ pod, ...(opts.forwardedAdmin ? { forwardedAdmin: opts.forwardedAdmin } : {}) }, ports.admin, '/config_dump');
        return { node, pod, dump: JSON.parse(text) as ZtunnelDump };
      } catch (err) {
        return { node, pod, failure: (err as Error).message };
      }
    }),
  );
}
