// Files through which the CLI commands find a running cluster in its data directory.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../cluster.ts';
import { isAlive, type ProcessIdentity } from '../runtime/cluster-processes.ts';

export const defaultDataDir = (): string => resolve(process.env.LOCAL_CLUSTER_DATA ?? join(repoRoot, '.data/local-cluster'));
/** `<pid> <start ticks>` of the process that owns the cluster (`local-cluster run`, or the demo). */
export const pidFile = (dataDir: string): string => join(dataDir, 'cluster.pid');
export const logFile = (dataDir: string): string => join(dataDir, 'cluster.log');
export const readyFile = (dataDir: string): string => join(dataDir, 'cluster.ready');
export const kubeconfigFile = (dataDir: string): string => join(dataDir, 'kubeconfig');

/** The owner named by the pid file, alive or not; undefined when there is no readable file. */
export function recordedOwner(dataDir: string): ProcessIdentity | undefined {
  const f = pidFile(dataDir);
  if (!existsSync(f)) return undefined;
  const [pid, startTicks] = readFileSync(f, 'utf8').trim().split(/\s+/).map(Number);
  if (!Number.isInteger(pid) || pid! <= 0 || !Number.isInteger(startTicks)) return undefined;
  return { pid: pid!, startTicks: startTicks! };
}

/** The pid of the live process that owns the cluster; not a later process given the same pid. */
export function runningPid(dataDir: string): number | undefined {
  const owner = recordedOwner(dataDir);
  return owner && isAlive(owner) ? owner.pid : undefined;
}
