import assert from 'node:assert/strict';
import { FakeClock } from '@ambient/api/testing';
import { LocalRateLimit } from '../../src/policy/local-rate-limit.ts';

const T0 = 1_700_000_000_000;

/** How many of `n` requests for `key` pass at the clock's current time. */
function admit(limit: LocalRateLimit, clock: FakeClock, n: number, key = ''): number {
  let passed = 0;
  for (let i = 0; i < n; i++) if (limit.tryTake(key, clock.now()) === undefined) passed++;
  return passed;
}

describe('LocalRateLimit', () => {
  it('admits a burst of `limit`, then refills one token per window/limit', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 10, windowMs: 1000 }]);
    assert.equal(admit(limit, clock, 15), 10);
    assert.deepEqual(limit.tryTake('', clock.now()), { rate: 0, retryAfterMs: 100 });
    clock.advance(99);
    assert.equal(admit(limit, clock, 1), 0, 'a token takes 100 ms');
    assert.deepEqual(limit.tryTake('', clock.now()), { rate: 0, retryAfterMs: 1 });
    clock.advance(1);
    assert.equal(admit(limit, clock, 5), 1);
    clock.advance(250);
    assert.equal(admit(limit, clock, 5), 2, '2.5 tokens → 2 requests');
    clock.advance(50);
    assert.equal(admit(limit, clock, 5), 1, 'the half token left plus half a refill');
  });

  it('never holds more than `limit`: an idle minute banks one burst, not sixty', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 10, windowMs: 1000 }]);
    admit(limit, clock, 10);
    clock.advance(60_000);
    assert.equal(admit(limit, clock, 100), 10);
  });

  it('never refuses a client that keeps to the rate, over 10 000 requests', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 3, windowMs: 1000 }]);
    for (let i = 0; i < 10_000; i++) {
      assert.equal(limit.tryTake('', clock.now()), undefined, `request ${i}`);
      clock.advance(1000 / 3);
    }
  });

  it('admits at most limit + elapsed × rate in any interval under overload', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 20, windowMs: 2000 }]);
    const admittedAt: number[] = [];
    for (let t = 0; t < 30_000; t += 7) {
      if (limit.tryTake('', clock.now()) === undefined) admittedAt.push(t);
      clock.advance(7);
    }
    for (const start of [0, 1000, 9999, 20_000]) {
      const inWindow = admittedAt.filter((t) => t >= start && t < start + 2000).length;
      assert.ok(inWindow <= 20 + 20, `${inWindow} admitted in [${start}, ${start + 2000})`);
    }
    // Steady state: the rate, 10/s.
    const lastTen = admittedAt.filter((t) => t >= 20_000).length;
    assert.ok(lastTen >= 99 && lastTen <= 101, `${lastTen} admitted in the last 10 s`);
  });

  it('needs a token of every rate and spends none when one rate refuses', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([
      { limit: 3, windowMs: 1000 },
      { limit: 5, windowMs: 60_000 },
    ]);
    assert.equal(admit(limit, clock, 10), 3);
    assert.equal(limit.tryTake('', clock.now())?.rate, 0);
    clock.advance(1000);
    // Rate 1 has 2 + 1000 × 5/60000 ≈ 2.08 tokens: two pass, then rate 1 refuses.
    assert.equal(admit(limit, clock, 10), 2);
    const refusal = limit.tryTake('', clock.now());
    assert.equal(refusal?.rate, 1);
    assert.equal(refusal?.retryAfterMs, 11_000, '(1 − 1/12) token at 5 per minute');
    assert.equal(limit.remaining('', 0, clock.now()), 1, 'the refused requests spent nothing of rate 0');
  });

  it('peek tells without spending', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 1, windowMs: 1000 }]);
    assert.equal(limit.peek('a', clock.now()), undefined);
    assert.equal(limit.peek('a', clock.now()), undefined);
    assert.equal(limit.tryTake('a', clock.now()), undefined);
    assert.deepEqual(limit.peek('a', clock.now()), { rate: 0, retryAfterMs: 1000 });
  });

  it('keeps a bucket per key', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 2, windowMs: 1000 }]);
    assert.equal(admit(limit, clock, 5, 'alice'), 2);
    assert.equal(admit(limit, clock, 5, 'bob'), 2);
    assert.equal(limit.size, 2);
  });

  it('drops the least recently used key past maxKeys, counted, and it comes back full', () => {
    const clock = new FakeClock(T0);
    const limit = new LocalRateLimit([{ limit: 2, windowMs: 1000 }], { maxKeys: 2 });
    admit(limit, clock, 2, 'a');
    admit(limit, clock, 2, 'b');
    limit.tryTake('a', clock.now()); // refused, but not a use: 'a' stays the coldest
    assert.equal(limit.evicted, 0);
    admit(limit, clock, 1, 'c');
    assert.equal(limit.evicted, 1);
    assert.equal(limit.size, 2);
    assert.equal(admit(limit, clock, 5, 'a'), 2, 'a was dropped and starts full');
    assert.equal(limit.evicted, 2, 'a coming back pushed out b');
    assert.equal(admit(limit, clock, 5, 'c'), 1, 'c kept its spent token');
  });

  it('refills nothing when the clock steps back, and resumes from the latest time', () => {
    const limit = new LocalRateLimit([{ limit: 1, windowMs: 1000 }]);
    assert.equal(limit.tryTake('', T0), undefined);
    assert.equal(limit.tryTake('', T0 - 5000)?.rate, 0);
    assert.equal(limit.tryTake('', T0 + 999)?.rate, 0);
    assert.equal(limit.tryTake('', T0 + 1000), undefined);
  });

  it('rejects rates it cannot keep', () => {
    assert.throws(() => new LocalRateLimit([]), /invalid local rate limit rates \[\]/);
    assert.throws(() => new LocalRateLimit([{ limit: 0, windowMs: 1000 }]), /"limit":0/);
    assert.throws(() => new LocalRateLimit([{ limit: 1, windowMs: 0 }]), /"windowMs":0/);
    assert.throws(() => new LocalRateLimit([{ limit: 1, windowMs: 1 }], { maxKeys: 0 }), /invalid maxKeys 0/);
  });
});
