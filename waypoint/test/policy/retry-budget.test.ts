import assert from 'node:assert/strict';
import { FakeClock } from '@ambient/api/testing';
import { defaultRetryBudgetConfig, RetryBudget, type RetryBudgetConfig, RetryBudgets } from '../../src/policy/retry-budget.ts';
import { retryDecision } from '../../src/policy/retry-policy.ts';

// A start on a 10 s boundary, so that the budget's buckets line up with whole seconds.
const T0 = 1_700_000_000_000;

function config(percent: number, intervalMs: number, count: number, minIntervalMs: number): RetryBudgetConfig {
  return { budget: { percent, intervalMs }, minRetryRate: { count, intervalMs: minIntervalMs } };
}

function withdrawAll(budget: RetryBudget, max = 10_000): number {
  let n = 0;
  while (n < max && budget.tryWithdraw()) n++;
  return n;
}

describe('RetryBudget', () => {
  it('holds retries to 20% of the requests plus 10/s under a steady total failure load, over 5 virtual minutes', () => {
    const clock = new FakeClock(T0);
    const budget = new RetryBudget(clock);
    const offeredPerSecond = 100;
    const seconds = 300;
    const requestsPerSecond: number[] = [];
    const retriesPerSecond: number[] = [];
    for (let s = 0; s < seconds; s++) {
      let requests = 0;
      let retries = 0;
      for (let i = 0; i < offeredPerSecond; i++) {
        budget.recordRequest();
        requests++;
        // Every try fails with a 503: Istio's default policy wants two retries of each request.
        for (let attempt = 1; ; attempt++) {
          const d = retryDecision({
            method: 'GET',
            attempt,
            retry: undefined,
            outcome: { kind: 'response', status: 503 },
            replayable: true,
            budget,
            remainingMs: Number.POSITIVE_INFINITY,
            random: () => 0,
          });
          if (!d.retry) break;
          retries++;
        }
        clock.advance(1000 / offeredPerSecond);
      }
      requestsPerSecond.push(requests);
      retriesPerSecond.push(retries);
    }
    const total = retriesPerSecond.reduce((a, b) => a + b, 0);
    const bound = 0.2 * offeredPerSecond * seconds + 10 * seconds;
    assert.ok(total <= bound, `${total} retries > ${bound}`);
    // It does grant what it may: without a budget there would be 2 retries per request (60000).
    assert.ok(total >= 0.97 * bound, `${total} retries, far under the ${bound} the budget allows`);
    assert.equal(budget.stats().retriesGranted, total);
    assert.ok(budget.stats().retriesRefused > 0);
    // And in every 10 s window, not only on average.
    for (let s = 0; s + 10 <= seconds; s++) {
      const r = retriesPerSecond.slice(s, s + 10).reduce((a, b) => a + b, 0);
      const q = requestsPerSecond.slice(s, s + 10).reduce((a, b) => a + b, 0);
      assert.ok(r <= 0.2 * q + 10 * 10, `window starting at ${s}s: ${r} retries for ${q} requests`);
    }
  });

  it('allows the minimum rate alone when there is no traffic, never as a burst', () => {
    const clock = new FakeClock(T0);
    const budget = new RetryBudget(clock);
    assert.equal(withdrawAll(budget), 10);
    clock.advance(500);
    assert.equal(withdrawAll(budget), 0, 'the same second');
    clock.advance(500);
    assert.equal(withdrawAll(budget), 10, 'the next second');
    // A quiet minute banks nothing.
    clock.advance(60_000);
    assert.equal(withdrawAll(budget), 10);
  });

  it('adds the percentage to the minimum rate when there is traffic', () => {
    const clock = new FakeClock(T0);
    const budget = new RetryBudget(clock);
    for (let i = 0; i < 50; i++) budget.recordRequest();
    assert.equal(withdrawAll(budget), 10 + 10);
  });

  it('slides: requests older than the interval stop paying for retries, and so do retries', () => {
    const clock = new FakeClock(T0);
    const budget = new RetryBudget(clock, config(20, 10_000, 0, 1000));
    for (let i = 0; i < 50; i++) budget.recordRequest();
    clock.advance(5000);
    for (let i = 0; i < 50; i++) budget.recordRequest();
    assert.equal(withdrawAll(budget), 20, '20% of 100');
    clock.advance(5000);
    // The first 50 requests left the window; the 20 retries (made at 5 s) are still in it.
    assert.equal(withdrawAll(budget), 0);
    clock.advance(5000);
    assert.equal(withdrawAll(budget), 0, 'nothing left in the window');
    for (let i = 0; i < 10; i++) budget.recordRequest();
    assert.equal(withdrawAll(budget), 2, 'old retries no longer count against new requests');
  });

  it('grants nothing with percent 0 and count 0', () => {
    const clock = new FakeClock(T0);
    const budget = new RetryBudget(clock, config(0, 10_000, 0, 1000));
    for (let i = 0; i < 1000; i++) budget.recordRequest();
    assert.equal(budget.tryWithdraw(), false);
    assert.deepEqual(budget.stats(), { requests: 1000, retriesGranted: 0, retriesRefused: 1 });
  });

  it('counts requests, granted and refused retries for metrics', () => {
    const clock = new FakeClock(T0);
    const budget = new RetryBudget(clock);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    withdrawAll(budget, 15);
    assert.equal(budget.tryWithdraw(), false);
    assert.deepEqual(budget.stats(), { requests: 10, retriesGranted: 12, retriesRefused: 2 });
  });

  it('survives a clock that steps back', () => {
    let now = T0 + 20_000;
    const budget = new RetryBudget({ now: () => now }, config(20, 10_000, 0, 1000));
    for (let i = 0; i < 10; i++) budget.recordRequest();
    now = T0;
    assert.equal(withdrawAll(budget), 2);
    now = T0 + 25_000;
    for (let i = 0; i < 10; i++) budget.recordRequest();
    // 20 requests in the window allow 4 retries, 2 of them already taken while the clock was back.
    assert.equal(withdrawAll(budget), 2);
  });

  it('refuses a nonsensical config', () => {
    const clock = new FakeClock(T0);
    assert.throws(() => new RetryBudget(clock, config(101, 10_000, 10, 1000)), /invalid retry budget/);
    assert.throws(() => new RetryBudget(clock, config(20, 0, 10, 1000)), /invalid retry budget/);
    assert.throws(() => new RetryBudget(clock, config(20, 10_000, -1, 1000)), /invalid retry budget/);
    assert.throws(() => new RetryBudget(clock, config(20, 10_000, 10, Number.NaN)), /invalid retry budget/);
  });
});

describe('RetryBudgets', () => {
  const reviews = 'reviews.shop.svc.cluster.local';
  const ratings = 'ratings.shop.svc.cluster.local';

  it('gives each service its own budget, with its policy or the defaults', () => {
    const clock = new FakeClock(T0);
    const custom = config(50, 5000, 1, 1000);
    const budgets = new RetryBudgets(clock, new Map([[reviews, custom]]));
    assert.equal(budgets.get(reviews), budgets.get(reviews));
    assert.deepEqual(budgets.get(reviews).config, custom);
    assert.deepEqual(budgets.get(ratings).config, defaultRetryBudgetConfig);
    withdrawAll(budgets.get(ratings));
    assert.equal(budgets.get(reviews).tryWithdraw(), true, 'one service spending its budget leaves the other alone');
  });

  it('keeps the history of a budget whose config did not change, restarts one whose config did, drops services that left', () => {
    const clock = new FakeClock(T0);
    const budgets = new RetryBudgets(clock, new Map([[reviews, config(50, 5000, 1, 1000)]]));
    withdrawAll(budgets.get(reviews));
    withdrawAll(budgets.get(ratings));
    const spentRatings = budgets.get(ratings);

    budgets.update(new Map([[reviews, config(50, 5000, 1, 1000)]]));
    assert.equal(budgets.get(ratings), spentRatings);
    assert.equal(budgets.get(ratings).tryWithdraw(), false, 'an unrelated push hands out no fresh allowance');
    assert.equal(budgets.get(reviews).tryWithdraw(), false);

    budgets.update(new Map([[reviews, config(50, 5000, 3, 1000)]]));
    assert.equal(withdrawAll(budgets.get(reviews)), 3, 'the new config applies');

    budgets.update(new Map(), new Set([reviews]));
    assert.deepEqual(
      [...budgets.entries()].map(([h, b]) => [h, b.config.minRetryRate.count]),
      [],
      'reviews is back to the defaults (a new budget on next use), ratings is gone',
    );
    assert.deepEqual(budgets.get(reviews).config, defaultRetryBudgetConfig);
  });
});
