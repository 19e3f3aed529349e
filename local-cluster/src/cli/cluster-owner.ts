// One process owns a data directory's cluster at a time (`local-cluster run`, or the demo); its
// pid file says which. Claiming the directory makes any earlier state converge first: a live
// owner is stopped, and whatever a crashed one left (network namespaces, pods' processes,
// host-side control-plane processes) is removed, so a new cluster never trips over an old one.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { clusterProcesses, selfIdentity, stopProcesses } from '../runtime/cluster-processes.ts';
import { checkPrivileges, clusterIdFor, listNetns, netnsPrefix, teardownCluster } from '../runtime/index.ts';
import { pidFile, readyFile, recordedOwner, runningPid } from './daemon-files.ts';

/** How long a running owner gets to stop its cluster by itself before it is killed. */
const ownerGraceMs = 20_000;

/** Stops the cluster of `dataDir`, whatever state it is in; returns what it found, in words
 *  (empty when there was nothing to stop). Idempotent. API state on disk is kept. */
export async function stopCluster(dataDir: string): Promise<string[]> {
  await checkPrivileges(); // namespaces and other users' processes: say so plainly, up front
  const found: string[] = [];
  const owner = recordedOwner(dataDir);
  if (owner && runningPid(dataDir) !== undefined && owner.pid !== process.pid) {
    found.push(`a local cluster was running from ${dataDir} (pid ${owner.pid}): stopped it`);
    await stopProcesses([owner], ownerGraceMs);
  }
  // Whatever the owner did or did not manage, remove everything by name and marker: this is
  // what makes stopping idempotent and safe after a crash.
  const clusterId = clusterIdFor(dataDir);
  const netns = (await listNetns()).filter((n) => n.startsWith(netnsPrefix(clusterId)));
  const processes = clusterProcesses(clusterId);
  if (netns.length > 0 || processes.length > 0) {
    found.push(`removed what an earlier run left behind: ${netns.length} network namespace(s), ${processes.length} process(es)`);
  }
  await teardownCluster(clusterId);
  rmSync(pidFile(dataDir), { force: true });
  rmSync(readyFile(dataDir), { force: true });
  return found;
}

/** Makes this process the owner of `dataDir`'s cluster, after stopping whatever was there.
 *  Returns what it found, in words. */
export async function claimDataDir(dataDir: string): Promise<string[]> {
  const found = await stopCluster(dataDir);
  mkdirSync(dataDir, { recursive: true });
  const self = selfIdentity();
  writeFileSync(pidFile(dataDir), `${self.pid} ${self.startTicks}\n`);
  return found;
}

/** Gives up ownership, if this process has it. */
export function releaseDataDir(dataDir: string): void {
  if (recordedOwner(dataDir)?.pid !== process.pid) return;
  rmSync(pidFile(dataDir), { force: true });
  rmSync(readyFile(dataDir), { force: true });
}
