// Background work where only the newest input matters: the controllers' level-triggered
// reconcile loops, the status writer and waypoint controller, the model's recompute. Runs never
// overlap; while one is in progress (or waits out its debounce) newer inputs fold into one,
// which runs next.
//
// Failures, two kinds:
// - a run that throws failed as a whole (the API server is likely unreachable): it is retried
//   with growing back-off, and new input waits for that retry instead of hammering;
// - a run that reports `{ failed > 0 }` did its work for the rest (one object refused): it is
//   retried after the delay unless newer input comes first, which runs as soon as it would
//   have anyway, so one bad object never holds back the others.
import { Backoff } from '../backoff.ts';
import { realClock, unrefTimers, type Clock, type Timers } from '../timers.ts';

export interface LatestWinsOptions<T> {
  /** Quiet period: a run starts this long after the latest offer. Unset: at once, inside
   *  offer() (0 still goes through a timer). */
  debounceMs?: number;
  /** Under constant churn a run starts at most this long after the first offer of a burst.
   *  Default debounceMs (a burst then runs debounceMs after its first offer). */
  maxDelayMs?: number;
  /** Delay before a failed run is retried; doubles per consecutive failure up to maxRetryMs
   *  (default retryMs: a fixed delay). */
  retryMs: number;
  maxRetryMs?: number;
  /** Offers the latest input again this often, to catch what a lost event left behind. */
  resyncMs?: number;
  /** How a newer offer folds into one still waiting. Default: the newer replaces it. */
  coalesce?: (waiting: T, newer: T) => T;
  /** A run threw (it is retried); `failures` counts consecutive ones. */
  onError?: (err: unknown, failures: number) => void;
  /** Timers and clock of debounce and retries; default real ones. Resync timers default to
   *  unref'd ones, which never keep a process alive. */
  clock?: Clock;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a run that returns nothing succeeded; `void` lets any async function be a run
export type RunResult = { failed: number } | void;

export class LatestWins<T> {
  readonly #run: (input: T) => RunResult | Promise<RunResult>;
  readonly #debounceMs: number | undefined;
  readonly #maxDelayMs: number;
  readonly #coalesce: (waiting: T, newer: T) => T;
  readonly #onError: ((err: unknown, failures: number) => void) | undefined;
  readonly #clock: Clock;
  readonly #resyncTimers: Timers;
  readonly #resyncMs: number | undefined;
  readonly #backoff: Backoff;
  #waiting: { input: T } | undefined;
  #latest: { input: T } | undefined;
  #burstStart: number | undefined;
  #timer: unknown;
  /** A retry after a thrown run is pending: offers wait for it. */
  #holding = false;
  #running: Promise<void> | undefined;
  #resyncTimer: unknown;
  #failures = 0;
  #stopped = false;

  constructor(run: (input: T) => RunResult | Promise<RunResult>, opts: LatestWinsOptions<T>) {
    this.#run = run;
    this.#debounceMs = opts.debounceMs;
    this.#maxDelayMs = opts.maxDelayMs ?? opts.debounceMs ?? 0;
    this.#coalesce = opts.coalesce ?? ((_waiting, newer) => newer);
    this.#onError = opts.onError;
    this.#clock = opts.clock ?? realClock;
    this.#resyncTimers = opts.clock ?? unrefTimers;
    this.#resyncMs = opts.resyncMs;
    this.#backoff = new Backoff({ initialMs: opts.retryMs, multiplier: 2, maxMs: Math.max(opts.retryMs, opts.maxRetryMs ?? opts.retryMs), jitter: 0 });
    this.#scheduleResync();
  }

  offer(input: T): void {
    if (this.#stopped) return;
    this.#latest = { input };
    this.#waiting = this.#waiting ? { input: this.#coalesce(this.#waiting.input, input) } : { input };
    if (this.#running || this.#holding) return; // runs when the current run or the retry ends
    this.#schedule();
  }

  /** Nothing new starts after this; resolves when a run in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#waiting = undefined;
    this.#clock.clearTimeout(this.#timer);
    this.#resyncTimers.clearTimeout(this.#resyncTimer);
    await this.#running;
  }

  #schedule(): void {
    this.#clock.clearTimeout(this.#timer);
    if (this.#debounceMs === undefined) {
      this.#start();
      return;
    }
    const now = this.#clock.now();
    this.#burstStart ??= now;
    const delay = Math.max(0, Math.min(this.#debounceMs, this.#burstStart + this.#maxDelayMs - now));
    this.#timer = this.#clock.setTimeout(() => this.#start(), delay);
  }

  #retry(input: T, hold: boolean): void {
    this.#waiting ??= { input };
    this.#holding = hold;
    this.#timer = this.#clock.setTimeout(() => this.#start(), this.#backoff.next());
  }

  #start(): void {
    this.#timer = undefined;
    this.#holding = false;
    if (this.#stopped || this.#running || !this.#waiting) return;
    const { input } = this.#waiting;
    this.#waiting = undefined;
    this.#burstStart = undefined;
    this.#running = this.#runOnce(input);
  }

  async #runOnce(input: T): Promise<void> {
    let outcome: 'ok' | 'partial' | 'threw';
    try {
      const result = await this.#run(input);
      outcome = result && result.failed > 0 ? 'partial' : 'ok';
    } catch (err) {
      outcome = 'threw';
      this.#onError?.(err, this.#failures + 1);
    }
    this.#running = undefined;
    if (this.#stopped) return;
    if (outcome === 'ok') {
      this.#failures = 0;
      this.#backoff.reset();
    } else {
      this.#failures++;
    }
    if (outcome === 'threw') this.#retry(input, true);
    else if (this.#waiting) this.#schedule();
    else if (outcome === 'partial') this.#retry(input, false);
  }

  #scheduleResync(): void {
    if (this.#resyncMs === undefined) return;
    this.#resyncTimer = this.#resyncTimers.setTimeout(() => {
      if (this.#latest) this.offer(this.#latest.input);
      this.#scheduleResync();
    }, this.#resyncMs);
  }
}
