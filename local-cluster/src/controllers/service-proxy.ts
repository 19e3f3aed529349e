// kube-proxy's and cluster DNS's roles: Services + EndpointSlices → NAT rules on every node,
// and Service names → every running pod's hosts file. Writes are skipped when nothing changed.
import type { Logger } from 'pino';
import type { ClusterContext } from './cluster-context.ts';
import type { ClusterInformers } from './cluster-informers.ts';
import { canonicalJson } from './name-suffix.ts';
import { computeServiceRules, serviceHostsEntries } from './compute-service-rules.ts';
import { podRegistryFor, type RunningPod } from './pod-registry.ts';

export function makeServiceProxy(ctx: ClusterContext, informers: ClusterInformers, logger: Logger): { reconcile: () => Promise<void>; close: () => void } {
  const registry = podRegistryFor(ctx.network);
  const lastRules = new Map<string, string>(); // node name -> rendered rules
  const lastHosts = new Map<string, string>(); // pod uid -> rendered entries

  const writeHosts = async (pod: RunningPod, force: boolean) => {
    const entries = serviceHostsEntries(pod.namespace, informers.services.list());
    const rendered = canonicalJson(entries);
    if (!force && lastHosts.get(pod.uid) === rendered) return;
    await ctx.network.setPodHosts(pod.net, entries);
    lastHosts.set(pod.uid, rendered);
  };
  registry.setHostsWriter((pod) => writeHosts(pod, true));

  const reconcile = async () => {
    const rules = computeServiceRules(informers.services.list(), informers.endpointSlices.list());
    const rendered = canonicalJson(rules);
    for (const node of ctx.network.nodes()) {
      if (lastRules.get(node.name) === rendered) continue;
      await ctx.network.setServiceRules(node, rules);
      lastRules.set(node.name, rendered);
      logger.debug({ node: node.name, services: rules.length }, 'service rules applied');
    }
    const running = registry.list();
    const live = new Set(running.map((p) => p.uid));
    for (const uid of lastHosts.keys()) if (!live.has(uid)) lastHosts.delete(uid);
    for (const pod of running) await writeHosts(pod, false);
  };
  return { reconcile, close: () => registry.setHostsWriter(undefined) };
}
