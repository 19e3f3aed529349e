// The EndpointSlice controller's decision, pure: for a Service with a selector, the slices
// that should exist. Each pod's ports are resolved on their own (a named targetPort may map to
// different numbers on different pods); pods that resolve to the same port list share a slice,
// named `<service>-<hash of the port list>` so the name is stable across reconciles.
import type { V1Endpoint, V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { matchesLabelMap } from '@ambient/api/kube';
import { stableHash } from './name-suffix.ts';
import { controllerRef, isPodReady, isPodTerminal, isPodTerminating } from './pod-facts.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.local';

export interface SlicePort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** The target port number of `servicePort` on `pod`, or undefined when a named port is not
 *  declared by any of the pod's containers (with the service port's protocol). */
export function resolveTargetPort(servicePort: { port: number; targetPort?: number | string; protocol?: string }, pod: V1Pod): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const protocol = servicePort.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

export function computeEndpointSlices(service: V1Service, pods: V1Pod[]): V1EndpointSlice[] {
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0 || service.spec?.type === 'ExternalName') return [];
  const ns = service.metadata?.namespace;
  const svcName = service.metadata!.name!;
  const groups = new Map<string, { ports: SlicePort[]; pods: V1Pod[] }>();
  const candidates = pods
    .filter(
      (p) => p.metadata?.namespace === ns && matchesLabelMap(selector, p.metadata?.labels) && p.status?.podIP && !isPodTerminal(p) && !isPodTerminating(p),
    )
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  for (const pod of candidates) {
    const ports: SlicePort[] = [];
    for (const sp of service.spec?.ports ?? []) {
      const port = resolveTargetPort({ port: sp.port, targetPort: sp.targetPort, protocol: sp.protocol }, pod);
      if (port === undefined) continue;
      const p: SlicePort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
      if (sp.appProtocol) p.appProtocol = sp.appProtocol;
      ports.push(p);
    }
    // A pod none of whose ports resolve serves nothing for this Service.
    if ((service.spec?.ports ?? []).length > 0 && ports.length === 0) continue;
    const key = JSON.stringify(ports);
    const g = groups.get(key) ?? { ports, pods: [] };
    g.pods.push(pod);
    groups.set(key, g);
  }
  // A Service with no ready backends still gets one (empty) slice, as in Kubernetes.
  if (groups.size === 0) groups.set('[]', { ports: [], pods: [] });
  return [...groups.entries()].map(([key, g]) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svcName}-${stableHash(key, 5)}`,
      namespace: ns,
      labels: { [SERVICE_NAME_LABEL]: svcName, [MANAGED_BY_LABEL]: MANAGED_BY },
      ownerReferences: [controllerRef('v1', 'Service', service)],
    },
    addressType: 'IPv4',
    ports: g.ports,
    endpoints: g.pods.map((pod) => {
      const ready = isPodReady(pod);
      const e: V1Endpoint = {
        addresses: [pod.status!.podIP!],
        conditions: { ready, serving: ready, terminating: false },
        targetRef: { kind: 'Pod', namespace: ns, name: pod.metadata!.name!, uid: pod.metadata!.uid! },
      };
      if (pod.spec?.nodeName) e.nodeName = pod.spec.nodeName;
      return e;
    }),
  }));
}
