// A client-node ListWatch that keeps going. ListWatch re-lists on 410 and reconnects after a
// clean end, but after any other error (API server restarting, connection refused) it reports
// once and stops for good. The control plane and the local cluster's controllers must outlive
// their API server, so we restart it with a capped back-off; its cache (the last good state)
// is kept meanwhile and reconciled by the next list.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.ts';
import { realTimers, type Timers } from '../timers.ts';
import { isNotFound } from './api-errors.ts';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** Collection path to watch, e.g. '/api/v1/pods'. */
  path: string;
  /** Lists the collection (the same objects as `path`, with the same field selector). */
  list: () => Promise<KubernetesListObject<T>>;
  fieldSelector?: string;
  logger: Logger;
  /** What logs call the informer. Default: the path. */
  name?: string;
  /** Called once per add/update/delete, including those a (re)list finds. */
  onEvent: (event: InformerEvent, obj: T) => void;
  /** Applied in place to every object, listed or watched, before it enters the cache: fields the
   *  consumer never reads need not be held (see stripManagedFields). */
  strip?: (obj: T) => void;
  /** A 404 from the list means "not served yet" (a CRD not installed): an empty, synced
   *  collection, listed again with back-off until it is served. Default false: an outage. */
  missingIsEmpty?: boolean;
  /** First restart delay; doubles up to maxBackoffMs. Defaults 250 ms and 5 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  timers?: Timers;
}

/**
 * ListWatch only remembers a watch once its request is established, so a stop() that lands
 * while the list or the watch request is in flight would leave a watch running forever. This
 * Watch aborts any request that completes after the informer stopped.
 */
class StoppableWatch extends Watch {
  stopped = false;
  /** ListWatch calls watch() right after it put a list's objects in its cache. */
  onWatch: () => void = () => {};
  /** Applied to each watched object before ListWatch sees it. */
  strip: ((obj: KubernetesObject) => void) | undefined;

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    this.onWatch();
    const strip = this.strip;
    if (strip !== undefined) {
      const callback = args[2];
      args[2] = (phase, apiObj, watchObj) => {
        if (apiObj && typeof apiObj === 'object' && phase !== 'ERROR' && phase !== 'BOOKMARK') strip(apiObj);
        callback(phase, apiObj, watchObj);
      };
    }
    const request = await super.watch(...args);
    if (this.stopped) request.abort();
    return request;
  }
}

/** Drops metadata.managedFields (server-side apply's bookkeeping, often the largest part of an
 *  object), which a controller that never applies does not read: Istio's informers do the same. */
export function stripManagedFields(obj: KubernetesObject): void {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
}

export class ResilientInformer<T extends KubernetesObject = KubernetesObject> {
  readonly #lw: ListWatch<T>;
  readonly #watch: StoppableWatch;
  readonly #logger: Logger;
  readonly #path: string;
  readonly #missingIsEmpty: boolean;
  readonly #backoff: Backoff;
  readonly #timers: Timers;
  #timer: unknown;
  #stopped = true;
  #synced = false;
  #listed = false;
  #missingLogged = false;
  readonly #syncWaiters: (() => void)[] = [];
  readonly #strip: ((obj: T) => void) | undefined;

  constructor(kc: KubeConfig, opts: ResilientInformerOptions<T>) {
    this.#path = opts.path;
    this.#logger = opts.logger.child({ informer: opts.name ?? opts.path, ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}) });
    this.#missingIsEmpty = opts.missingIsEmpty ?? false;
    const initialMs = opts.backoffMs ?? 250;
    this.#backoff = new Backoff({ initialMs, multiplier: 2, maxMs: Math.max(initialMs, opts.maxBackoffMs ?? 5_000), jitter: 0 });
    this.#timers = opts.timers ?? realTimers;
    this.#watch = new StoppableWatch(kc);
    this.#strip = opts.strip;
    this.#watch.strip = opts.strip as ((obj: KubernetesObject) => void) | undefined;
    // Synced once a list's objects are in the cache, which is when ListWatch starts watching.
    this.#watch.onWatch = () => {
      if (this.#listed) this.#markSynced();
    };
    this.#lw = new ListWatch<T>(opts.path, this.#watch, () => this.#list(opts.list), false, undefined, opts.fieldSelector);
    // Objects arriving again is the sign of health that resets the back-off.
    const healthy = (): void => this.#backoff.reset();
    this.#lw.on('add', (o) => {
      healthy();
      opts.onEvent('add', o);
    });
    this.#lw.on('update', (o) => {
      healthy();
      opts.onEvent('update', o);
    });
    this.#lw.on('delete', (o) => opts.onEvent('delete', o));
    this.#lw.on('error', (err) => this.#restartLater(err));
  }

  /** True once a list has succeeded and its objects are in the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Starts listing and watching. Resolves once the first list and watch were attempted (the
   *  cache holds what a successful list found); never rejects, failures are retried with
   *  back-off: see whenSynced() for the first good list. */
  start(): Promise<void> {
    if (!this.#stopped) return Promise.resolve();
    this.#stopped = false;
    this.#watch.stopped = false;
    return this.#lw.start().catch((err: unknown) => this.#restartLater(err));
  }

  /** Resolves after the first successful list. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watch.stopped = true;
    this.#timers.clearTimeout(this.#timer);
    await this.#lw.stop();
  }

  /** The cached objects, of one namespace or all: a new array each call, holding the cache's
   *  own objects (treat them as read-only). */
  list(namespace?: string): T[] {
    return [...this.#lw.list(namespace)];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  async #list(list: () => Promise<KubernetesListObject<T>>): Promise<KubernetesListObject<T>> {
    let result: KubernetesListObject<T>;
    try {
      result = await list();
    } catch (err) {
      // A CRD that is not installed yet is an empty collection, not an outage: report it
      // synced and keep polling (the watch fails too and brings us back here).
      if (!this.#missingIsEmpty || !isNotFound(err)) throw err;
      if (!this.#missingLogged) this.#logger.warn({ path: this.#path }, 'resource not served (CRD missing?); treating as empty');
      this.#missingLogged = true;
      result = { apiVersion: 'v1', kind: 'List', metadata: {}, items: [] };
    }
    if (this.#strip !== undefined) for (const item of result.items) this.#strip(item);
    this.#listed = true;
    return result;
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
  }

  #restartLater(err: unknown): void {
    if (this.#stopped) return;
    const retryMs = this.#backoff.next();
    if (!(this.#missingIsEmpty && isNotFound(err))) this.#logger.debug({ err, retryMs }, 'list/watch failed; restarting');
    this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => {
      if (this.#stopped) return;
      this.#lw.start().catch((e: unknown) => this.#restartLater(e));
    }, retryMs);
  }
}
