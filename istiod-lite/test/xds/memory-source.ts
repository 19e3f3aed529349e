// An in-memory ResourceSource the tests drive by hand: set/remove resources, then emit().
import type { ProxyNode, ResourceChange, ResourceSource, VersionedResource } from '../../src/xds/resource-source.ts';

export class MemorySource implements ResourceSource {
  readonly #byType = new Map<string, Map<string, VersionedResource>>();
  readonly #listeners = new Set<(change: ResourceChange) => void>();
  #version = 0;
  /** The nodes the server asked for, to check entitlement handling. */
  readonly askedFor: ProxyNode[] = [];

  resources(node: ProxyNode, typeUrl: string): ReadonlyMap<string, VersionedResource> {
    this.askedFor.push(node);
    return this.#byType.get(typeUrl) ?? new Map();
  }

  onChange(listener: (change: ResourceChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sets a resource without notifying; returns its new version. */
  set(typeUrl: string, name: string, payload: object): string {
    let map = this.#byType.get(typeUrl);
    if (map === undefined) this.#byType.set(typeUrl, (map = new Map()));
    const version = `v${++this.#version}`;
    map.set(name, { version, payload });
    return version;
  }

  remove(typeUrl: string, name: string): void {
    this.#byType.get(typeUrl)?.delete(name);
  }

  emit(typeUrl: string, names: string[] | 'all'): void {
    const change: ResourceChange = { changed: new Map([[typeUrl, names === 'all' ? 'all' : new Set(names)]]), seenAt: performance.now() };
    for (const listener of this.#listeners) listener(change);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}
