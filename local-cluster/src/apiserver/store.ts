// The API server's storage: objects per resource in memory, one global monotonically
// increasing resourceVersion (like etcd's revision), a bounded history of changes for
// resuming watches, and durability through StoreLog. Deliberately semantic-free: defaulting,
// validation, finalizers and garbage collection live in RestStorage above it.
import type { Logger } from 'pino';
import { gone } from '../apimachinery/errors.ts';
import type { KubeObject, ResourceInfo } from '../apimachinery/types.ts';
import { type Durability, type LogFiles, StoreLog } from './store-log.ts';

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Storage key of a resource: versions of one group/plural share their objects. */
export function resourceKey(r: Pick<ResourceInfo, 'group' | 'plural'>): string {
  return `${r.group}/${r.plural}`;
}

/** One change. Encoded once per (type, apiVersion) and the bytes shared by every watcher. */
export class StoreEvent {
  readonly rv: number;
  readonly resource: string;
  readonly type: StoreEventType;
  readonly object: KubeObject;
  /** The object before the change (MODIFIED/DELETED): lets selector watches see transitions. */
  readonly prev: KubeObject | undefined;
  #encoded: Map<string, Buffer> | undefined;

  constructor(rv: number, resource: string, type: StoreEventType, object: KubeObject, prev: KubeObject | undefined) {
    this.rv = rv;
    this.resource = resource;
    this.type = type;
    this.object = object;
    this.prev = prev;
  }

  /** The watch-stream line for this event as `type`, with the object shown as `apiVersion`. */
  encode(type: StoreEventType, apiVersion: string): Buffer {
    const key = `${type}|${apiVersion}`;
    this.#encoded ??= new Map();
    let bytes = this.#encoded.get(key);
    if (!bytes) {
      const object = apiVersion === this.object.apiVersion ? this.object : { ...this.object, apiVersion };
      bytes = Buffer.from(JSON.stringify({ type, object }) + '\n');
      this.#encoded.set(key, bytes);
    }
    return bytes;
  }
}

export type StoreListener = (event: StoreEvent) => void;

export interface StoreOptions {
  /** Directory for snapshot + log; undefined = memory only. */
  dir?: string;
  /** How many events are kept for resuming watches. */
  historySize?: number;
  /** Snapshot after this many logged writes. */
  snapshotEvery?: number;
  /** When a write is on disk (see StoreLog); default `per-write`. */
  durability?: Durability;
  /** Repairs made on open, and snapshots that failed, are reported here. */
  logger?: Logger;
  /** The log's file operations (tests inject short writes and failures). */
  files?: LogFiles;
}

const RESOLVED = Promise.resolve();

type Objects = Map<string, Map<string, KubeObject>>; // namespace ('' = cluster) → name → object

export class Store {
  #rv = 0;
  readonly #data = new Map<string, Objects>();
  readonly #history: (StoreEvent | undefined)[];
  #historyHead = 0; // next slot to write
  #historyCount = 0;
  /** Watches may resume from any rv >= this; older ones missed evicted events. */
  #historyFloor = 0;
  readonly #listeners = new Map<string, Set<StoreListener>>();
  /** owner uid → `${resource}\n${namespace}\n${name}` of its dependents, for garbage collection. */
  readonly #dependents = new Map<string, Set<string>>();
  readonly #log: StoreLog | undefined;
  readonly #snapshotEvery: number;
  #writesSinceSnapshot = 0;
  readonly #logger: Logger | undefined;

  constructor(opts: StoreOptions = {}) {
    this.#history = new Array(opts.historySize ?? 10_000);
    this.#snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.#logger = opts.logger;
    if (opts.dir === undefined) return;
    const { log, state } = StoreLog.open(opts.dir, { durability: opts.durability, logger: opts.logger, files: opts.files });
    this.#log = log;
    for (const [resource, objects] of Object.entries(state.snapshot.resources)) {
      for (const o of objects) this.#set(resource, o);
    }
    this.#rv = state.snapshot.rv;
    this.#historyFloor = this.#rv;
    for (const e of state.entries) {
      const [ns, name] = splitKey(e.k);
      const prev = this.get(e.r, ns, name);
      if (e.o) {
        this.#set(e.r, e.o);
        this.#remember(new StoreEvent(e.rv, e.r, prev ? 'MODIFIED' : 'ADDED', e.o, prev));
      } else if (prev) {
        this.#unset(e.r, prev);
        this.#remember(new StoreEvent(e.rv, e.r, 'DELETED', withRv(prev, e.rv), prev));
      }
      this.#rv = e.rv;
    }
  }

  /** The current resourceVersion (the last write's), as a number. */
  get revision(): number {
    return this.#rv;
  }

  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    return this.#data.get(resource)?.get(namespace)?.get(name);
  }

  /** Objects of a resource, in one namespace or all; the list's resourceVersion. */
  list(resource: string, namespace?: string): { items: KubeObject[]; resourceVersion: string } {
    const items: KubeObject[] = [];
    const byNs = this.#data.get(resource);
    if (byNs) {
      if (namespace !== undefined) {
        const m = byNs.get(namespace);
        if (m) items.push(...m.values());
      } else {
        for (const m of byNs.values()) items.push(...m.values());
      }
    }
    return { items, resourceVersion: String(this.#rv) };
  }

  /** Names of the namespaces holding objects of any resource, for namespace cleanup. */
  resourcesIn(namespace: string): string[] {
    const out: string[] = [];
    for (const [resource, byNs] of this.#data) if ((byNs.get(namespace)?.size ?? 0) > 0) out.push(resource);
    return out;
  }

  /**
   * Stores `obj` (which the caller must not mutate afterwards) with the next resourceVersion.
   * Logged first: a write the disk refuses (StoreWriteError) changes nothing.
   */
  put(resource: string, obj: KubeObject): KubeObject {
    const rv = this.#rv + 1;
    const stored: KubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
    const ns = stored.metadata.namespace ?? '';
    const name = stored.metadata.name ?? '';
    this.#log?.append({ rv, r: resource, k: `${ns}/${name}`, o: stored });
    this.#rv = rv;
    const prev = this.get(resource, ns, name);
    if (prev) this.#unset(resource, prev);
    this.#set(resource, stored);
    this.#emit(new StoreEvent(rv, resource, prev ? 'MODIFIED' : 'ADDED', stored, prev));
    this.#snapshotWhenDue();
    return stored;
  }

  /** Removes an object; returns it as the DELETED event shows it (with the deletion's rv). */
  remove(resource: string, namespace: string, name: string): KubeObject | undefined {
    const prev = this.get(resource, namespace, name);
    if (!prev) return undefined;
    const rv = this.#rv + 1;
    this.#log?.append({ rv, r: resource, k: `${namespace}/${name}` });
    this.#rv = rv;
    this.#unset(resource, prev);
    const gone = withRv(prev, rv);
    this.#emit(new StoreEvent(rv, resource, 'DELETED', gone, prev));
    this.#snapshotWhenDue();
    return gone;
  }

  /**
   * Resolves when every write made so far is on disk: at once with `per-write` durability or
   * without a directory; after the shared fsync with `group-commit`. A writer acknowledges
   * after it; rejects with StoreWriteError when that fsync failed.
   */
  durable(): Promise<void> {
    return this.#log ? this.#log.durable() : RESOLVED;
  }

  /** Dependents (by ownerReferences uid) of an owner. */
  dependentsOf(uid: string): { resource: string; namespace: string; name: string }[] {
    const set = this.#dependents.get(uid);
    if (!set) return [];
    return [...set].map((k) => {
      const [resource, namespace, name] = k.split('\n') as [string, string, string];
      return { resource, namespace, name };
    });
  }

  /**
   * Subscribes to changes of a resource. With `fromRv`, first replays the retained events
   * after it (synchronously, before returning); throws 410 Expired when they were evicted.
   */
  watch(resource: string, fromRv: number | undefined, listener: StoreListener): () => void {
    if (fromRv !== undefined && fromRv < this.#rv) {
      if (fromRv < this.#historyFloor) {
        throw gone(`too old resource version: ${fromRv} (${this.#historyFloor})`);
      }
      const cap = this.#history.length;
      for (let i = 0; i < this.#historyCount; i++) {
        const e = this.#history[(this.#historyHead - this.#historyCount + i + cap) % cap]!;
        if (e.rv > fromRv && e.resource === resource) listener(e);
      }
    }
    let set = this.#listeners.get(resource);
    if (!set) this.#listeners.set(resource, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Writes a snapshot now (also done periodically and on close). */
  snapshot(): void {
    if (!this.#log) return;
    const resources: Record<string, KubeObject[]> = {};
    for (const resource of this.#data.keys()) resources[resource] = this.list(resource).items;
    this.#log.snapshot({ rv: this.#rv, resources });
    this.#writesSinceSnapshot = 0;
  }

  close(): void {
    if (!this.#log) return;
    this.snapshot();
    this.#log.close();
  }

  #snapshotWhenDue(): void {
    if (!this.#log || ++this.#writesSinceSnapshot < this.#snapshotEvery) return;
    try {
      this.snapshot();
    } catch (err) {
      // The write itself is logged and durable; the log just grows until a snapshot succeeds.
      this.#writesSinceSnapshot = 0;
      this.#logger?.error({ err }, 'store snapshot failed; the log keeps every write');
    }
  }

  #emit(event: StoreEvent): void {
    this.#remember(event);
    const set = this.#listeners.get(event.resource);
    if (!set) return;
    for (const l of set) l(event);
  }

  #remember(event: StoreEvent): void {
    const cap = this.#history.length;
    const evicted = this.#history[this.#historyHead];
    if (this.#historyCount === cap && evicted) this.#historyFloor = evicted.rv;
    this.#history[this.#historyHead] = event;
    this.#historyHead = (this.#historyHead + 1) % cap;
    this.#historyCount = Math.min(this.#historyCount + 1, cap);
  }

  #set(resource: string, obj: KubeObject): void {
    let byNs = this.#data.get(resource);
    if (!byNs) this.#data.set(resource, (byNs = new Map()));
    const ns = obj.metadata.namespace ?? '';
    let m = byNs.get(ns);
    if (!m) byNs.set(ns, (m = new Map()));
    m.set(obj.metadata.name ?? '', obj);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let set = this.#dependents.get(ref.uid);
      if (!set) this.#dependents.set(ref.uid, (set = new Set()));
      set.add(`${resource}\n${ns}\n${obj.metadata.name}`);
    }
    if (obj.metadata.resourceVersion) this.#rv = Math.max(this.#rv, Number(obj.metadata.resourceVersion));
  }

  #unset(resource: string, obj: KubeObject): void {
    const ns = obj.metadata.namespace ?? '';
    const m = this.#data.get(resource)?.get(ns);
    m?.delete(obj.metadata.name ?? '');
    if (m?.size === 0) this.#data.get(resource)!.delete(ns);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const set = this.#dependents.get(ref.uid);
      set?.delete(`${resource}\n${ns}\n${obj.metadata.name}`);
      if (set?.size === 0) this.#dependents.delete(ref.uid);
    }
  }
}

function splitKey(k: string): [string, string] {
  const i = k.indexOf('/');
  return [k.slice(0, i), k.slice(i + 1)];
}

function withRv(obj: KubeObject, rv: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}
