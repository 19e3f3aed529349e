// kube-proxy's and cluster DNS's decisions, pure: from Services and EndpointSlices to the NAT
// rules every node installs, and from Services to the names a pod's hosts file carries.
// Only ready endpoints receive traffic. Headless Services (clusterIP None) get neither rules
// nor hosts entries (there is no DNS server to return their pod IPs).
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { ServiceRule } from '../runtime/index.ts';
import { SERVICE_NAME_LABEL } from './compute-endpoint-slices.ts';

export const CLUSTER_DOMAIN = 'cluster.local';

function hasClusterIp(svc: V1Service): boolean {
  const ip = svc.spec?.clusterIP;
  return !!ip && ip !== 'None' && svc.spec?.type !== 'ExternalName';
}

export function computeServiceRules(services: V1Service[], slices: V1EndpointSlice[]): ServiceRule[] {
  const slicesByService = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc || s.addressType !== 'IPv4') continue;
    const key = `${s.metadata?.namespace}/${svc}`;
    slicesByService.set(key, [...(slicesByService.get(key) ?? []), s]);
  }
  const rules: ServiceRule[] = [];
  for (const svc of services) {
    if (!hasClusterIp(svc)) continue;
    const own = slicesByService.get(`${svc.metadata?.namespace}/${svc.metadata?.name}`) ?? [];
    for (const sp of svc.spec?.ports ?? []) {
      const protocol = sp.protocol ?? 'TCP';
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const seen = new Set<string>();
      const endpoints: ServiceRule['endpoints'] = [];
      for (const slice of own) {
        const port = (slice.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === protocol);
        if (port?.port === undefined) continue;
        for (const e of slice.endpoints ?? []) {
          if (e.conditions?.ready === false) continue;
          for (const ip of e.addresses) {
            const key = `${ip}:${port.port}`;
            if (seen.has(key)) continue;
            seen.add(key);
            endpoints.push({ ip, port: port.port });
          }
        }
      }
      endpoints.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
      rules.push({ clusterIp: svc.spec!.clusterIP!, port: sp.port, protocol, endpoints });
    }
  }
  return rules.sort((a, b) => (a.clusterIp < b.clusterIp ? -1 : a.clusterIp > b.clusterIp ? 1 : a.port - b.port));
}

export interface HostsEntry {
  ip: string;
  names: string[];
}

/** What a pod in `podNamespace` resolves: every Service as `<svc>.<ns>.svc.cluster.local`,
 *  `<svc>.<ns>.svc` and `<svc>.<ns>`, and Services of its own namespace also as `<svc>` —
 *  the names the search path `<ns>.svc.cluster.local svc.cluster.local cluster.local`
 *  would make resolvable with real cluster DNS. */
export function serviceHostsEntries(podNamespace: string, services: V1Service[]): HostsEntry[] {
  const entries: HostsEntry[] = [];
  for (const svc of services) {
    if (!hasClusterIp(svc)) continue;
    const name = svc.metadata!.name!;
    const ns = svc.metadata!.namespace!;
    const names = [`${name}.${ns}.svc.${CLUSTER_DOMAIN}`, `${name}.${ns}.svc`, `${name}.${ns}`];
    if (ns === podNamespace) names.push(name);
    entries.push({ ip: svc.spec!.clusterIP!, names });
  }
  return entries.sort((a, b) => (a.names[0]! < b.names[0]! ? -1 : 1));
}
