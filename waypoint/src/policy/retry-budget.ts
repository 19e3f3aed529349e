// Retry budgets, so that retries can never multiply an outage: Linkerd's (and Finagle's) rule,
// configured as Gateway API's XBackendTrafficPolicy `retryConstraint` spells it. Over the last
// `budget.interval`, retries to a service may be at most `budget.percent`% of the requests
// routed to it, plus `minRetryRate.count` per `minRetryRate.interval` allowed whatever the
// traffic, so that a quiet service still gets its few retries. When every try fails, the load a
// service sees is bounded by (1 + percent/100) × the offered load + the minimum rate, instead
// of (1 + attempts) × the offered load.
//
// The minimum rate is a window of its own (at most `count` in any `interval`) rather than
// Linkerd's reserve of count × budget interval, so that a quiet period never banks a burst.
//
// Each window is a ring of time buckets with a running total: recording and withdrawing cost a
// few array writes, memory is fixed, and history leaves the window a bucket at a time.
import type { Clock } from '@ambient/api';
import { defaultRetryBudgetConfig, type RetryBudgetConfig } from '@ambient/api/mesh-policy';

export { defaultRetryBudgetConfig, type RetryBudgetConfig } from '@ambient/api/mesh-policy';

export interface RetryBudgetStats {
  /** Requests recorded since the budget was made (all time, for counters). */
  requests: number;
  retriesGranted: number;
  retriesRefused: number;
}

/** Buckets per window: the window slides in steps of interval/10 (tower's TpsBudget uses 10 too). */
const BUCKETS = 10;

/** A count over a sliding window of `BUCKETS` time buckets. */
class SlidingCount {
  readonly #widthMs: number;
  readonly #slots = new Float64Array(BUCKETS);
  /** Bucket number (time / width) of the newest slot. */
  #head: number;
  #total = 0;

  constructor(intervalMs: number, now: number) {
    this.#widthMs = intervalMs / BUCKETS;
    this.#head = Math.floor(now / this.#widthMs);
  }

  total(now: number): number {
    this.#advance(now);
    return this.#total;
  }

  add(now: number): void {
    this.#advance(now);
    this.#slots[this.#head % BUCKETS]! += 1;
    this.#total += 1;
  }

  #advance(now: number): void {
    const bucket = Math.floor(now / this.#widthMs);
    // A clock stepping back leaves the window where it is: nothing expires twice.
    if (bucket <= this.#head) return;
    const expired = Math.min(bucket - this.#head, BUCKETS);
    for (let i = 1; i <= expired; i++) {
      const slot = (this.#head + i) % BUCKETS;
      this.#total -= this.#slots[slot]!;
      this.#slots[slot] = 0;
    }
    this.#head = bucket;
  }
}

export class RetryBudget {
  readonly config: Readonly<RetryBudgetConfig>;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #requests: SlidingCount;
  /** Retries paid for by the percentage: they count against it. */
  readonly #budgetRetries: SlidingCount;
  /** Retries paid for by the minimum rate. */
  readonly #minRetries: SlidingCount;
  #requestsTotal = 0;
  #granted = 0;
  #refused = 0;

  constructor(clock: Pick<Clock, 'now'>, config: Readonly<RetryBudgetConfig> = defaultRetryBudgetConfig) {
    const { budget, minRetryRate } = config;
    if (
      !(Number.isFinite(budget.percent) && budget.percent >= 0 && budget.percent <= 100) ||
      !(Number.isFinite(budget.intervalMs) && budget.intervalMs > 0) ||
      !(Number.isInteger(minRetryRate.count) && minRetryRate.count >= 0) ||
      !(Number.isFinite(minRetryRate.intervalMs) && minRetryRate.intervalMs > 0)
    ) {
      throw new RangeError(`invalid retry budget ${JSON.stringify(config)}`);
    }
    this.config = config;
    this.#clock = clock;
    const now = clock.now();
    this.#requests = new SlidingCount(budget.intervalMs, now);
    this.#budgetRetries = new SlidingCount(budget.intervalMs, now);
    this.#minRetries = new SlidingCount(minRetryRate.intervalMs, now);
  }

  /** Every request routed to the service, once, before its first try (retries are not requests). */
  recordRequest(): void {
    this.#requests.add(this.#clock.now());
    this.#requestsTotal++;
  }

  /** Takes one retry from the budget if there is one left: true = retry, false = give up. */
  tryWithdraw(): boolean {
    const now = this.#clock.now();
    // Integer arithmetic: (retries + 1) ≤ percent/100 × requests, with no rounding drift.
    if ((this.#budgetRetries.total(now) + 1) * 100 <= this.config.budget.percent * this.#requests.total(now)) {
      this.#budgetRetries.add(now);
      this.#granted++;
      return true;
    }
    if (this.#minRetries.total(now) < this.config.minRetryRate.count) {
      this.#minRetries.add(now);
      this.#granted++;
      return true;
    }
    this.#refused++;
    return false;
  }

  stats(): RetryBudgetStats {
    return { requests: this.#requestsTotal, retriesGranted: this.#granted, retriesRefused: this.#refused };
  }
}

function sameConfig(a: Readonly<RetryBudgetConfig>, b: Readonly<RetryBudgetConfig>): boolean {
  return (
    a.budget.percent === b.budget.percent &&
    a.budget.intervalMs === b.budget.intervalMs &&
    a.minRetryRate.count === b.minRetryRate.count &&
    a.minRetryRate.intervalMs === b.minRetryRate.intervalMs
  );
}

/**
 * The budgets of a waypoint, one per destination service hostname (the service's own
 * `<name>.<namespace>.svc.<domain>`, never a client-supplied Host, so their number stays that of
 * the services). Each starts on first use, with its BackendTrafficPolicy's config or the defaults.
 */
export class RetryBudgets {
  readonly #clock: Pick<Clock, 'now'>;
  #configs: ReadonlyMap<string, Readonly<RetryBudgetConfig>>;
  readonly #budgets = new Map<string, RetryBudget>();

  constructor(clock: Pick<Clock, 'now'>, configs: ReadonlyMap<string, Readonly<RetryBudgetConfig>> = new Map()) {
    this.#clock = clock;
    this.#configs = configs;
  }

  get(hostname: string): RetryBudget {
    let budget = this.#budgets.get(hostname);
    if (budget === undefined) {
      budget = new RetryBudget(this.#clock, this.#configs.get(hostname) ?? defaultRetryBudgetConfig);
      this.#budgets.set(hostname, budget);
    }
    return budget;
  }

  /**
   * New policies (from `backendTrafficPolicies`): a budget whose config changed starts afresh at
   * its next use; one whose config did not keeps its history, so a config push unrelated to it
   * never hands out a fresh allowance. With `services`, budgets of hostnames not in it are dropped.
   */
  update(configs: ReadonlyMap<string, Readonly<RetryBudgetConfig>>, services?: ReadonlySet<string>): void {
    this.#configs = configs;
    for (const [hostname, budget] of this.#budgets) {
      const config = configs.get(hostname) ?? defaultRetryBudgetConfig;
      if ((services !== undefined && !services.has(hostname)) || !sameConfig(budget.config, config)) this.#budgets.delete(hostname);
    }
  }

  /** The live budgets, for metrics and the admin config dump. */
  entries(): IterableIterator<[string, RetryBudget]> {
    return this.#budgets.entries();
  }
}
