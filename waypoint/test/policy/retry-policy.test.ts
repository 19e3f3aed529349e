import assert from 'node:assert/strict';
import type { Retry } from '@ambient/api';
import { FakeClock } from '@ambient/api/testing';
import { Deadline } from '../../src/policy/deadline.ts';
import { RetryBudget } from '../../src/policy/retry-budget.ts';
import { backoffDelayMs, type RetryDecision, type RetryInput, retryDecision, type TryOutcome } from '../../src/policy/retry-policy.ts';

const T0 = 1_700_000_000_000;

/** A budget with `n` retries in it and no refill within the test. */
function budgetOf(n: number): RetryBudget {
  return new RetryBudget({ now: () => T0 }, { budget: { percent: 0, intervalMs: 10_000 }, minRetryRate: { count: n, intervalMs: 1000 } });
}

const ok = (status: number): TryOutcome => ({ kind: 'response', status });
const failed = (code: 'connect-failure' | 'refused-stream' | 'reset' | 'timeout', requestSent: boolean): TryOutcome => ({ kind: 'error', code, requestSent });

function decide(over: Partial<RetryInput>): RetryDecision {
  return retryDecision({
    method: 'GET',
    attempt: 1,
    retry: undefined,
    outcome: ok(503),
    replayable: true,
    budget: budgetOf(100),
    remainingMs: Number.POSITIVE_INFINITY,
    random: () => 0.5,
    ...over,
  });
}

const refused = (reason: string) => ({ retry: false, reason });

describe('retryDecision', () => {
  describe("Istio's default policy (no retry stanza on the rule)", () => {
    it('retries a 503 twice, then gives up', () => {
      assert.deepEqual(decide({ attempt: 1 }), { retry: true, delayMs: 12 });
      assert.deepEqual(decide({ attempt: 2 }), { retry: true, delayMs: 37 });
      assert.deepEqual(decide({ attempt: 3 }), refused('attempts-exhausted'));
    });

    it('retries a connect failure and a refused stream', () => {
      assert.equal(decide({ outcome: failed('connect-failure', false) }).retry, true);
      assert.equal(decide({ outcome: failed('refused-stream', true) }).retry, true);
    });

    it('does not retry other statuses, resets or try timeouts', () => {
      assert.deepEqual(decide({ outcome: ok(200) }), refused('success'));
      assert.deepEqual(decide({ outcome: ok(404) }), refused('success'));
      assert.deepEqual(decide({ outcome: ok(500) }), refused('not-retryable'));
      assert.deepEqual(decide({ outcome: ok(502) }), refused('not-retryable'));
      assert.deepEqual(decide({ outcome: failed('reset', true) }), refused('not-retryable'));
      assert.deepEqual(decide({ outcome: failed('timeout', true) }), refused('not-retryable'));
    });
  });

  describe("a route's retry stanza", () => {
    const retry: Retry = { attempts: 3, codes: [429, 500, 502], backoffMs: 100 };

    it('retries the listed statuses, 4xx included, and only those', () => {
      assert.equal(decide({ retry, outcome: ok(502) }).retry, true);
      assert.equal(decide({ retry, outcome: ok(429) }).retry, true);
      assert.deepEqual(decide({ retry, outcome: ok(503) }), refused('not-retryable'));
      assert.deepEqual(decide({ retry, outcome: ok(201) }), refused('success'));
    });

    it('retries connection failures, resets and try timeouts', () => {
      for (const code of ['connect-failure', 'refused-stream', 'reset', 'timeout'] as const) {
        assert.equal(decide({ retry, outcome: failed(code, code !== 'connect-failure') }).retry, true, code);
      }
    });

    it('with no codes retries no status, only connection failures', () => {
      assert.deepEqual(decide({ retry: { attempts: 2 }, outcome: ok(503) }), refused('not-retryable'));
      assert.equal(decide({ retry: { attempts: 2 }, outcome: failed('connect-failure', false) }).retry, true);
    });

    it('counts attempts as retries after the first try', () => {
      assert.equal(decide({ retry, attempt: 3, outcome: ok(500) }).retry, true);
      assert.deepEqual(decide({ retry, attempt: 4, outcome: ok(500) }), refused('attempts-exhausted'));
    });

    it('with attempts 0 or absent (the same on the wire) retries nothing', () => {
      assert.deepEqual(decide({ retry: { attempts: 0, codes: [503] }, outcome: failed('connect-failure', false) }), refused('attempts-exhausted'));
      assert.deepEqual(decide({ retry: { codes: [503] } }), refused('attempts-exhausted'));
    });
  });

  describe('safety', () => {
    const retry: Retry = { attempts: 2, codes: [503] };

    it('repeats a request that may have been processed only for an idempotent method', () => {
      for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) {
        assert.equal(decide({ method, retry, outcome: ok(503) }).retry, true, method);
        assert.equal(decide({ method, retry, outcome: failed('reset', true) }).retry, true, method);
      }
      for (const method of ['POST', 'PATCH', 'CONNECT', 'LOCK']) {
        assert.deepEqual(decide({ method, retry, outcome: ok(503) }), refused('unsafe'), method);
        assert.deepEqual(decide({ method, retry, outcome: failed('reset', true) }), refused('unsafe'), method);
        assert.deepEqual(decide({ method, retry, outcome: failed('timeout', true) }), refused('unsafe'), method);
      }
    });

    it('repeats any method when nothing was sent, or the stream was refused', () => {
      assert.equal(decide({ method: 'POST', retry, outcome: failed('connect-failure', false) }).retry, true);
      assert.equal(decide({ method: 'POST', retry, outcome: failed('reset', false) }).retry, true);
      assert.equal(decide({ method: 'PATCH', retry, outcome: failed('refused-stream', true) }).retry, true);
      assert.deepEqual(decide({ method: 'POST', outcome: ok(503) }), refused('unsafe'), "Istio's default would retry this POST; we do not");
    });

    it('never replays a body that was streamed and not kept', () => {
      assert.deepEqual(decide({ method: 'PUT', retry, replayable: false, outcome: ok(503) }), refused('unsafe'));
      assert.deepEqual(decide({ method: 'POST', retry, replayable: false, outcome: failed('refused-stream', true) }), refused('unsafe'));
      assert.equal(decide({ method: 'POST', retry, replayable: false, outcome: failed('connect-failure', false) }).retry, true, 'not a byte of it left');
    });
  });

  describe('deadline and budget', () => {
    it('gives up when the backoff would end past the request deadline, without spending the budget', () => {
      const budget = budgetOf(1);
      // attempt 2 with the default 25 ms base: the delay is in [0, 75); random 0.5 → 37.
      assert.deepEqual(decide({ attempt: 2, remainingMs: 37, budget }), refused('deadline'));
      assert.deepEqual(decide({ attempt: 2, remainingMs: 0, budget, random: () => 0 }), refused('deadline'));
      assert.deepEqual(decide({ attempt: 2, remainingMs: 38, budget }), { retry: true, delayMs: 37 });
    });

    it('reads the remaining time from the Deadline', () => {
      const clock = new FakeClock(T0);
      const deadline = new Deadline({ requestMs: 100 }, { now: clock.now, ...clock.timers });
      clock.advance(80);
      assert.deepEqual(decide({ attempt: 1, retry: { attempts: 1, backoffMs: 40, codes: [503] }, remainingMs: deadline.remainingMs() }), refused('deadline'));
      assert.equal(decide({ attempt: 1, retry: { attempts: 1, backoffMs: 20, codes: [503] }, remainingMs: deadline.remainingMs() }).retry, true);
      deadline.close();
    });

    it('gives up when the budget is spent, and spends it only on retries it grants', () => {
      const budget = budgetOf(2);
      assert.deepEqual(decide({ budget, outcome: ok(200) }), refused('success'));
      assert.deepEqual(decide({ budget, method: 'POST' }), refused('unsafe'));
      assert.deepEqual(decide({ budget, attempt: 3 }), refused('attempts-exhausted'));
      assert.equal(decide({ budget }).retry, true);
      assert.equal(decide({ budget, outcome: failed('connect-failure', false) }).retry, true);
      assert.deepEqual(decide({ budget }), refused('budget-exhausted'));
      assert.deepEqual(budget.stats(), { requests: 0, retriesGranted: 2, retriesRefused: 1 });
    });
  });

  describe('backoff', () => {
    it("is Envoy's full jitter: uniform in [0, (2^n − 1) × base), capped at 10 × base", () => {
      const top = () => 0.999999;
      assert.deepEqual(
        [1, 2, 3, 4, 5, 30, 100].map((n) => backoffDelayMs(n, 25, top)),
        [24, 74, 174, 249, 249, 249, 249],
      );
      assert.deepEqual(
        [1, 2, 3, 4].map((n) => backoffDelayMs(n, 100, top)),
        [99, 299, 699, 999],
      );
      assert.deepEqual(
        [1, 2, 3, 4].map((n) => backoffDelayMs(n, 100, () => 0)),
        [0, 0, 0, 0],
      );
    });

    it("takes the route's backoff as the base, else 25 ms", () => {
      const top = () => 0.999999;
      assert.deepEqual(decide({ retry: { attempts: 3, codes: [503], backoffMs: 200 }, attempt: 2, random: top }), { retry: true, delayMs: 599 });
      assert.deepEqual(decide({ retry: { attempts: 3, codes: [503] }, attempt: 2, random: top }), { retry: true, delayMs: 74 });
      assert.deepEqual(decide({ attempt: 1, random: top }), { retry: true, delayMs: 24 });
    });
  });
});
