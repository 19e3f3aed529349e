// Files through which the CLI commands find a running cluster in its data directory.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../cluster.ts';

export const defaultDataDir = (): string => resolve(process.env.LOCAL_CLUSTER_DATA ?? join(repoRoot, '.data/local-cluster'));
export const pidFile = (dataDir: string): string => join(dataDir, 'cluster.pid');
export const logFile = (dataDir: string): string => join(dataDir, 'cluster.log');
export const readyFile = (dataDir: string): string => join(dataDir, 'cluster.ready');
export const kubeconfigFile = (dataDir: string): string => join(dataDir, 'kubeconfig');

export function runningPid(dataDir: string): number | undefined {
  const f = pidFile(dataDir);
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
