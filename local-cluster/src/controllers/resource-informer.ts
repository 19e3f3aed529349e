// A client-node informer that keeps going. ListWatch re-lists on 410 and reconnects after a
// clean end, but after any other error (server restarting, connection refused) it reports and
// stops for good; controllers need it to come back, so we restart it with a capped back-off.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface ResourceInformerOptions<T extends KubernetesObject> {
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  fieldSelector?: string;
  logger: Logger;
  /** Called after any add/update/delete, and after each (re)connect's list. */
  onChange: (event: 'add' | 'update' | 'delete', obj: T) => void;
}

/**
 * ListWatch only remembers a watch once its request is established, so a stop() that lands
 * while the list or watch request is in flight would leave a watch running forever: abort any
 * request that completes after the informer stopped.
 */
class StoppableWatch extends Watch {
  stopped = false;

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const request = await super.watch(...args);
    if (this.stopped) request.abort();
    return request;
  }
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

export class ResourceInformer<T extends KubernetesObject> {
  readonly #lw: ListWatch<T>;
  readonly #watch: StoppableWatch;
  readonly #logger: Logger;
  #stopped = false;
  #retryMs = RETRY_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, opts: ResourceInformerOptions<T>) {
    this.#logger = opts.logger.child({ informer: opts.path, ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}) });
    this.#watch = new StoppableWatch(kc);
    this.#lw = new ListWatch<T>(opts.path, this.#watch, opts.list, false, undefined, opts.fieldSelector);
    this.#lw.on('add', (o) => { this.#retryMs = RETRY_MIN_MS; opts.onChange('add', o); });
    this.#lw.on('update', (o) => { this.#retryMs = RETRY_MIN_MS; opts.onChange('update', o); });
    this.#lw.on('delete', (o) => opts.onChange('delete', o));
    this.#lw.on('error', (err) => this.#restartLater(err));
  }

  start(): Promise<void> {
    this.#stopped = false;
    this.#watch.stopped = false;
    return this.#lw.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watch.stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#lw.stop();
  }

  list(namespace?: string): T[] {
    return [...this.#lw.list(namespace)];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  #restartLater(err: unknown): void {
    if (this.#stopped) return;
    this.#logger.debug({ err: String(err), retryMs: this.#retryMs }, 'watch failed; restarting');
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (this.#stopped) return;
      this.#lw.start().catch((e: unknown) => this.#restartLater(e));
    }, this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }
}
