// Reconnect delays as grpc-js' backoff-timeout: start at 1 s, grow ×1.6 up to 30 s, each delay
// spread by ±jitter so that proxies restarted together do not reconnect in lock-step.

export interface BackoffOptions {
  initialMs?: number;
  multiplier?: number;
  maxMs?: number;
  /** Fraction of the delay added or removed at random (0.2 = ±20 %). */
  jitter?: number;
  /** Injectable for tests: returns [0, 1). */
  random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #multiplier: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #nextBaseMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.#initialMs = opts.initialMs ?? 1000;
    this.#multiplier = opts.multiplier ?? 1.6;
    this.#maxMs = opts.maxMs ?? 30_000;
    this.#jitter = opts.jitter ?? 0.2;
    this.#random = opts.random ?? Math.random;
    if (!(this.#initialMs > 0) || !(this.#multiplier >= 1) || !(this.#maxMs >= this.#initialMs) || !(this.#jitter >= 0 && this.#jitter < 1)) {
      throw new RangeError(
        `invalid backoff ${JSON.stringify({ initialMs: this.#initialMs, multiplier: this.#multiplier, maxMs: this.#maxMs, jitter: this.#jitter })}`,
      );
    }
    this.#nextBaseMs = this.#initialMs;
  }

  /** The delay before the next attempt; each call grows the following one. */
  next(): number {
    const base = this.#nextBaseMs;
    this.#nextBaseMs = Math.min(base * this.#multiplier, this.#maxMs);
    const spread = base * this.#jitter * (this.#random() * 2 - 1);
    return Math.max(0, Math.round(Math.min(base + spread, this.#maxMs)));
  }

  /** After a successful connection the next failure starts from the initial delay again. */
  reset(): void {
    this.#nextBaseMs = this.#initialMs;
  }
}
