// Every process a cluster starts (pod containers, host-side control-plane processes such as
// istiod-lite) carries LOCAL_CLUSTER_ID=<cluster id> in its environment. That is how teardown
// finds them all by reading /proc, whatever the process that started them managed to do
// before it died: a `kill -9` of the cluster process leaves children that nobody tracks, and
// host-side ones live in no netns of the cluster's, so deleting the namespaces alone misses them.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const clusterIdEnv = 'LOCAL_CLUSTER_ID';

export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): with the pid, it tells a
   *  process apart from a later one that was given the same pid. */
  startTicks: number;
}

/** The start time of a running process, or undefined when there is none (or only a zombie,
 *  which holds no resources and waits for its parent to reap it). */
export function processStartTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined; // fields[0] is field 3, the state
  const ticks = Number(fields[19]); // field 22
  return Number.isFinite(ticks) ? ticks : undefined;
}

/** True while the process that `id` names is alive (not a later process given its pid). */
export function isAlive(id: ProcessIdentity): boolean {
  return processStartTicks(id.pid) === id.startTicks;
}

export function selfIdentity(): ProcessIdentity {
  return { pid: process.pid, startTicks: processStartTicks(process.pid)! };
}

/** Live processes whose environment carries LOCAL_CLUSTER_ID=<clusterId>, this one excepted. */
export function clusterProcesses(clusterId: string): ProcessIdentity[] {
  const marker = Buffer.from(`\0${clusterIdEnv}=${clusterId}\0`);
  const found: ProcessIdentity[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let environ: Buffer;
    try {
      // A leading NUL lets the first variable match like the others.
      environ = Buffer.concat([Buffer.of(0), readFileSync(`/proc/${pid}/environ`)]);
    } catch {
      continue; // gone meanwhile, or a kernel thread
    }
    if (environ.indexOf(marker) < 0) continue;
    const startTicks = processStartTicks(pid);
    if (startTicks !== undefined) found.push({ pid, startTicks });
  }
  return found;
}

function signal(ids: ProcessIdentity[], sig: NodeJS.Signals): void {
  for (const id of ids) {
    if (!isAlive(id)) continue;
    try {
      process.kill(id.pid, sig);
    } catch {
      /* gone meanwhile */
    }
  }
}

/** SIGTERM, then SIGKILL after `graceMs` whatever is left; resolves when all are gone (or
 *  after a last bounded wait). Returns how many there were. */
export async function stopProcesses(ids: ProcessIdentity[], graceMs = 5_000): Promise<number> {
  let alive = ids.filter(isAlive);
  const count = alive.length;
  if (count === 0) return 0;
  signal(alive, 'SIGTERM');
  for (const [sig, waitMs] of [
    ['SIGKILL', graceMs],
    [undefined, 2_000],
  ] as const) {
    const deadline = Date.now() + waitMs;
    while (alive.length > 0 && Date.now() < deadline) {
      await sleep(50);
      alive = alive.filter(isAlive);
    }
    if (alive.length === 0 || sig === undefined) break;
    signal(alive, sig);
  }
  return count;
}
