// Two pod network namespaces joined by a veth pair (eth0 each side, one /24): what the root
// tests of capture and the per-pod proxies run real traffic between. Names carry the test's own
// prefix and the process id, so parallel runs and other suites never share one.
import { execFileSync } from 'node:child_process';
import { type EventEmitter, once } from 'node:events';
import type { PodInfo } from '@ambient/api';

export const sh = (...argv: string[]): string => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });

export function podInfo(uid: string, ip: string, netns: string, serviceAccount = uid): PodInfo {
  return { uid, name: uid, namespace: 'shop', ip, netns, netnsPath: `/run/netns/${netns}`, labels: {}, annotations: {}, serviceAccount };
}

/** Creates both namespaces and the link; `remove()` deletes them (whatever is left). */
export function createTwoPodNetns(a: PodInfo, b: PodInfo): { remove(): void } {
  for (const pod of [a, b]) sh('ip', 'netns', 'add', pod.netns);
  sh('ip', '-n', a.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.netns);
  for (const pod of [a, b]) {
    sh('ip', '-n', pod.netns, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0');
    sh('ip', '-n', pod.netns, 'link', 'set', 'eth0', 'up');
    sh('ip', '-n', pod.netns, 'link', 'set', 'lo', 'up');
  }
  return {
    remove() {
      for (const pod of [a, b]) {
        try {
          sh('ip', 'netns', 'del', pod.netns);
        } catch {
          /* already gone */
        }
      }
    },
  };
}

/** Resolves true with the next `event`, false when none comes within a real deadline. */
export async function within(emitter: EventEmitter, event: string, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await once(emitter, event, { signal: ac.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
