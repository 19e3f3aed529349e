// The container runtime's own record of each pod attachment: libcni keeps every ADD's result
// with its CNI_ARGS in /var/lib/cni/results (`cniCacheV1` files), until the DEL. An agent that
// starts after pods were attached (installed late, or restarted without its state) learns from
// these files which pods the node runs, with their uid and address: no API server needed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstIpv4, type CniResult } from './cni-request.ts';

export interface CachedAttachment {
  containerId: string;
  ifName: string;
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  /** Recorded by runtimes that keep it. */
  netns?: string;
}

const maxFileBytes = 1024 * 1024;

/** Every readable Kubernetes pod attachment of the cache dir; anything else is skipped. */
export function readRuntimeCache(dir: string): CachedAttachment[] {
  if (!existsSync(dir)) return [];
  const out: CachedAttachment[] = [];
  for (const file of readdirSync(dir).sort()) {
    try {
      const text = readFileSync(join(dir, file));
      if (text.length > maxFileBytes) continue;
      const e = JSON.parse(text.toString('utf8')) as {
        kind?: unknown;
        containerId?: unknown;
        ifName?: unknown;
        netns?: unknown;
        cniArgs?: unknown;
        result?: CniResult;
      };
      if (e.kind !== 'cniCacheV1' || typeof e.containerId !== 'string' || typeof e.ifName !== 'string' || !Array.isArray(e.cniArgs)) continue;
      const args = new Map(
        (e.cniArgs as unknown[]).filter((p): p is [string, string] => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string')),
      );
      const [namespace, name, uid] = [args.get('K8S_POD_NAMESPACE'), args.get('K8S_POD_NAME'), args.get('K8S_POD_UID')];
      const ip = Array.isArray(e.result?.ips) ? firstIpv4(e.result) : undefined;
      if (!namespace || !name || !uid || !ip) continue;
      out.push({
        containerId: e.containerId,
        ifName: e.ifName,
        namespace,
        name,
        uid,
        ip,
        ...(typeof e.netns === 'string' && e.netns ? { netns: e.netns } : {}),
      });
    } catch {
      /* not a cache file we can read: skipped */
    }
  }
  return out;
}
