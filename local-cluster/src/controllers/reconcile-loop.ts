// Level-triggered reconciliation: any change marks the loop dirty; after a short debounce the
// whole state is reconciled once, never concurrently with itself. A failed run is retried with
// a capped back-off, and a periodic resync catches anything a lost event or write left behind.
import type { Logger } from 'pino';

export interface ReconcileLoopOptions {
  debounceMs?: number;
  resyncMs?: number;
}

export class ReconcileLoop {
  readonly #name: string;
  readonly #fn: () => Promise<void>;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;
  #stopped = false;
  #failures = 0;

  constructor(name: string, fn: () => Promise<void>, logger: Logger, opts: ReconcileLoopOptions = {}) {
    this.#name = name;
    this.#fn = fn;
    this.#logger = logger;
    this.#debounceMs = opts.debounceMs ?? 50;
    this.#resync = setInterval(() => this.trigger(), opts.resyncMs ?? 10_000);
    this.#resync.unref();
  }

  trigger(delayMs = this.#debounceMs): void {
    if (this.#stopped) return;
    this.#dirty = true;
    if (this.#timer || this.#running) return;
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#run(); }, delayMs);
  }

  #run(): void {
    if (this.#stopped || this.#running) return;
    this.#dirty = false;
    this.#running = this.#fn().then(
      () => { this.#failures = 0; },
      (err: unknown) => {
        this.#failures++;
        this.#logger.warn({ err, controller: this.#name, failures: this.#failures }, 'reconcile failed; retrying');
        this.#dirty = true;
      },
    ).finally(() => {
      this.#running = undefined;
      if (this.#dirty && !this.#stopped) {
        const delay = this.#failures ? Math.min(100 * 2 ** this.#failures, 5_000) : this.#debounceMs;
        this.#dirty = false;
        this.trigger(delay);
      }
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
    await this.#running;
  }
}
