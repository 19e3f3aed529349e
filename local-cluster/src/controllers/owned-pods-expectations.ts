// Informer caches lag behind our own writes: right after creating a pod, the next reconcile
// may not see it yet and would create another. Like kube-controller-manager's expectations,
// we remember what we created/deleted per owner until the cache shows it (or a timeout passes,
// in case the write was lost), and adjust the cached view with it.
import type { V1Pod } from '@kubernetes/client-node';

const EXPECTATION_TTL_MS = 30_000;

export class OwnedPodsExpectations {
  readonly #created = new Map<string, Map<string, { pod: V1Pod; at: number }>>();
  readonly #deleted = new Map<string, Map<string, number>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  created(ownerUid: string, pod: V1Pod): void {
    const m = this.#created.get(ownerUid) ?? new Map();
    m.set(pod.metadata!.name!, { pod, at: this.#now() });
    this.#created.set(ownerUid, m);
  }

  deleted(ownerUid: string, name: string): void {
    const m = this.#deleted.get(ownerUid) ?? new Map();
    m.set(name, this.#now());
    this.#deleted.set(ownerUid, m);
  }

  /** The owner's pods as they will be once our recent writes show up in the cache. */
  adjust(ownerUid: string, cached: V1Pod[]): V1Pod[] {
    const now = this.#now();
    const names = new Set(cached.map((p) => p.metadata?.name));
    const created = this.#created.get(ownerUid);
    const deleted = this.#deleted.get(ownerUid);
    for (const [name, e] of created ?? []) if (names.has(name) || now - e.at > EXPECTATION_TTL_MS) created!.delete(name);
    for (const [name, at] of deleted ?? []) if (!names.has(name) || now - at > EXPECTATION_TTL_MS) deleted!.delete(name);
    const result = cached.filter((p) => !deleted?.has(p.metadata!.name!));
    for (const e of created?.values() ?? []) result.push(e.pod);
    return result;
  }

  forget(ownerUid: string): void {
    this.#created.delete(ownerUid);
    this.#deleted.delete(ownerUid);
  }
}
