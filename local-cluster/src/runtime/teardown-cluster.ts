// Removes everything a cluster created, found by name alone so it also works after a crash.
import { readdir } from 'node:fs/promises';
import { clusterProcesses, stopProcesses } from './cluster-processes.ts';
import { deleteNetns, listNetns } from './netns.ts';
import { netnsPrefix } from './network-plan.ts';
import { netnsEtcRoot, removeNetnsEtc } from './pod-hosts.ts';

/** Stops every process the cluster started (pods, and host-side control-plane processes such
 *  as istiod-lite), then removes every netns `lc<id>-*` (killing whatever else runs there),
 *  their /etc/netns dirs and with them every link, address, route and iptables rule (all of
 *  which live inside those netns: the host's namespace is never touched). Idempotent. */
export async function teardownCluster(clusterId: string): Promise<void> {
  if (!/^[0-9a-f]{6}$/.test(clusterId)) throw new TypeError(`invalid cluster id: ${JSON.stringify(clusterId)}`);
  await stopProcesses(clusterProcesses(clusterId));
  const prefix = netnsPrefix(clusterId);
  const names = (await listNetns()).filter((n) => n.startsWith(prefix));
  const errors: unknown[] = [];
  // Pods first, then nodes, then the fabric, so no process sees its uplink vanish first.
  const rank = (n: string): number => (n.endsWith('-fabric') ? 2 : n.includes('-node') ? 1 : 0);
  for (const r of [0, 1, 2]) {
    const results = await Promise.allSettled(names.filter((n) => rank(n) === r).map((n) => deleteNetns(n)));
    for (const x of results) if (x.status === 'rejected') errors.push(x.reason);
  }
  const etc = await readdir(netnsEtcRoot).catch(() => [] as string[]);
  await Promise.all(etc.filter((n) => n.startsWith(prefix)).map((n) => removeNetnsEtc(n)));
  if (errors.length > 0) throw new AggregateError(errors, `teardown of cluster ${clusterId} left ${errors.length} netns behind`);
}
