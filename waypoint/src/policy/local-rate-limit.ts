// A limit's counters in this waypoint replica (`store: Local`, the default): one token bucket per
// rate per counter key, as Envoy's local rate limit filter keeps them. A bucket holds at most
// `limit` tokens (the burst) and refills continuously at limit/window, so a client that keeps
// to the rate is never refused and one that bursts gets `limit` at once and then the rate.
// Refilling continuously, rather than a whole bucket per window, means no instant at which
// every client's allowance comes back together.
//
// Time comes from the caller (`now`, the injected clock), so the math is pure and tests move
// time by hand. A clock that steps back refills nothing (and never un-spends a token).
//
// Keys come from request attributes (a principal, a header), so their number is bounded: past
// `maxKeys` the least recently used counter is dropped and counted. A dropped counter comes
// back full, which is how an idle one would be anyway after a window.
import type { RateLimitRate } from '@ambient/api/mesh-policy';

/** Why `key` was refused: the first rate without a token and when it gets one. */
export interface LocalRefusal {
  /** Index into the limit's rates. */
  rate: number;
  /** Milliseconds until that rate has a token again (> 0). */
  retryAfterMs: number;
}

export const DEFAULT_MAX_LOCAL_KEYS = 10_000;

/** Floating point refill may land a hair under 1 after exactly one token's time: that is a token. */
const EPSILON = 1e-9;

export class LocalRateLimit {
  readonly rates: readonly RateLimitRate[];
  readonly #maxKeys: number;
  /** Per key: [last refill time, tokens of rate 0, tokens of rate 1, ...]; Map order = least recently used first. */
  readonly #buckets = new Map<string, Float64Array>();
  /** Tokens added per millisecond, per rate. */
  readonly #perMs: Float64Array;
  #evicted = 0;

  constructor(rates: readonly RateLimitRate[], options: { maxKeys?: number } = {}) {
    if (rates.length === 0 || rates.some((r) => !(Number.isInteger(r.limit) && r.limit >= 1 && r.windowMs > 0))) {
      throw new RangeError(`invalid local rate limit rates ${JSON.stringify(rates)}: each needs an integer limit ≥ 1 and a window > 0`);
    }
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_LOCAL_KEYS;
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError(`invalid maxKeys ${maxKeys}: expected an integer ≥ 1`);
    this.rates = rates;
    this.#maxKeys = maxKeys;
    this.#perMs = Float64Array.from(rates, (r) => r.limit / r.windowMs);
  }

  /** Counters dropped to stay under `maxKeys`, since creation. */
  get evicted(): number {
    return this.#evicted;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Whether `key` may pass now, without spending anything: undefined = yes. */
  peek(key: string, now: number): LocalRefusal | undefined {
    const b = this.#buckets.get(key);
    // A key never seen has full buckets, and every limit is at least 1.
    return b === undefined ? undefined : this.#refusal(this.#refill(b, now));
  }

  /** Spends one token of every rate if each has one; else spends nothing and says why. */
  tryTake(key: string, now: number): LocalRefusal | undefined {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = this.#create(now);
    } else {
      this.#refill(b, now);
      const refusal = this.#refusal(b);
      if (refusal !== undefined) return refusal;
      // Most recently used goes last, so eviction finds the coldest counter first.
      this.#buckets.delete(key);
    }
    for (let i = 0; i < this.rates.length; i++) b[i + 1]! -= 1;
    this.#buckets.set(key, b);
    return undefined;
  }

  /** Whole tokens left for `key` in rate `rate` (the x-ratelimit-remaining value). */
  remaining(key: string, rate: number, now: number): number {
    const b = this.#buckets.get(key);
    if (b === undefined) return this.rates[rate]!.limit;
    return Math.floor(this.#refill(b, now)[rate + 1]! + EPSILON);
  }

  #create(now: number): Float64Array {
    if (this.#buckets.size >= this.#maxKeys) {
      const coldest = this.#buckets.keys().next().value as string;
      this.#buckets.delete(coldest);
      this.#evicted++;
    }
    const b = new Float64Array(this.rates.length + 1);
    b[0] = now;
    for (let i = 0; i < this.rates.length; i++) b[i + 1] = this.rates[i]!.limit;
    return b;
  }

  #refill(b: Float64Array, now: number): Float64Array {
    const elapsed = now - b[0]!;
    if (elapsed <= 0) return b;
    b[0] = now;
    for (let i = 0; i < this.rates.length; i++) {
      b[i + 1] = Math.min(this.rates[i]!.limit, b[i + 1]! + elapsed * this.#perMs[i]!);
    }
    return b;
  }

  #refusal(b: Float64Array): LocalRefusal | undefined {
    for (let i = 0; i < this.rates.length; i++) {
      const tokens = b[i + 1]!;
      if (tokens + EPSILON < 1) return { rate: i, retryAfterMs: Math.max(1, Math.ceil((1 - tokens) / this.#perMs[i]! - EPSILON)) };
    }
    return undefined;
  }
}
