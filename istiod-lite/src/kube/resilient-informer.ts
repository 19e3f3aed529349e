// A client-node ListWatch that keeps going. ListWatch re-lists on 410 and reconnects after a
// clean end, but after any other error (API server restarting, connection refused) it reports
// once and stops for good. The control plane must outlive its API server, so we restart it
// with a capped back-off; its cache (the last good state) is kept meanwhile and reconciled by
// the next list.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isNotFound } from './api-errors.ts';
import type { RawClient } from './raw-client.ts';

export interface ResourceKind {
  /** Kind of the objects, e.g. 'Pod' (also the key onChange reports). */
  kind: string;
  apiVersion: string;
  /** Cluster-wide collection path, e.g. '/api/v1/pods'. */
  path: string;
}

/**
 * ListWatch only remembers a watch once its request is established, so a stop() that lands
 * while the list or the watch request is in flight would leave a watch running forever. This
 * Watch aborts any request that completes after the informer stopped.
 */
class StoppableWatch extends Watch {
  stopped = false;

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const request = await super.watch(...args);
    if (this.stopped) request.abort();
    return request;
  }
}

export type InformerEvent = 'add' | 'update' | 'delete';

export interface ResilientInformerOptions {
  client: RawClient;
  logger: Logger;
  onEvent: (event: InformerEvent, obj: KubernetesObject) => void;
  /** First restart delay; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class ResilientInformer {
  readonly resource: ResourceKind;
  readonly #lw: ListWatch<KubernetesObject>;
  readonly #watch: StoppableWatch;
  readonly #logger: Logger;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #synced = false;
  #missingLogged = false;
  readonly #syncWaiters: (() => void)[] = [];

  constructor(kc: KubeConfig, resource: ResourceKind, opts: ResilientInformerOptions) {
    this.resource = resource;
    this.#logger = opts.logger.child({ informer: resource.kind });
    this.#minBackoffMs = opts.backoffMs ?? 250;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 5_000;
    this.#backoffMs = this.#minBackoffMs;
    this.#watch = new StoppableWatch(kc);
    this.#lw = new ListWatch(resource.path, this.#watch, () => this.#list(opts.client), false);
    const healthy = (): void => { this.#backoffMs = this.#minBackoffMs; };
    this.#lw.on('add', (o) => { healthy(); opts.onEvent('add', o); });
    this.#lw.on('update', (o) => { healthy(); opts.onEvent('update', o); });
    this.#lw.on('delete', (o) => opts.onEvent('delete', o));
    this.#lw.on('error', (err) => this.#restartLater(err));
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Starts listing and watching; never rejects (failures are retried), see whenSynced(). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#watch.stopped = false;
    this.#lw.start().catch((err: unknown) => this.#restartLater(err));
  }

  /** Resolves after the first successful list. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watch.stopped = true;
    clearTimeout(this.#timer);
    await this.#lw.stop();
  }

  list(): readonly KubernetesObject[] {
    return this.#lw.list();
  }

  get(name: string, namespace?: string): KubernetesObject | undefined {
    return this.#lw.get(name, namespace);
  }

  async #list(client: RawClient): Promise<KubernetesListObject<KubernetesObject>> {
    let list: KubernetesListObject<KubernetesObject>;
    try {
      list = await client.listRaw(this.resource.path, this.resource.apiVersion, this.resource.kind);
    } catch (err) {
      // A CRD that is not installed yet is an empty collection, not an outage: report it
      // synced and keep polling (the watch fails the same way and brings us back here).
      if (!isNotFound(err)) throw err;
      if (!this.#missingLogged) this.#logger.warn({ path: this.resource.path }, 'resource not served (CRD missing?); treating as empty');
      this.#missingLogged = true;
      list = { apiVersion: 'v1', kind: 'List', metadata: {}, items: [] };
    }
    this.#markSynced();
    return list;
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
  }

  #restartLater(err: unknown): void {
    if (this.#stopped) return;
    if (!isNotFound(err)) this.#logger.debug({ err: String(err), retryMs: this.#backoffMs }, 'list/watch failed; restarting');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#lw.start().catch((e: unknown) => this.#restartLater(e));
    }, this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs);
  }
}
