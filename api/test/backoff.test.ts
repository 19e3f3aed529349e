import assert from 'node:assert/strict';
import { Backoff } from '../src/backoff.ts';

describe('Backoff', () => {
  it('starts at 1 s and grows ×1.6 up to 30 s', () => {
    const b = new Backoff({ random: () => 0.5 });
    const delays = Array.from({ length: 10 }, () => b.next());
    assert.deepEqual(delays, [1000, 1600, 2560, 4096, 6554, 10486, 16777, 26844, 30000, 30000]);
  });

  it('spreads each delay by at most ±20 %', () => {
    assert.equal(new Backoff({ random: () => 0 }).next(), 800);
    assert.equal(new Backoff({ random: () => 0.999999 }).next(), 1200);
    const capped = new Backoff({ random: () => 0.999999, initialMs: 30_000 });
    assert.equal(capped.next(), 30_000, 'jitter never exceeds the cap');
  });

  it('starts over after reset', () => {
    const b = new Backoff({ random: () => 0.5 });
    b.next();
    b.next();
    b.reset();
    assert.equal(b.next(), 1000);
  });

  it('rejects nonsensical settings', () => {
    assert.throws(() => new Backoff({ initialMs: 0 }), /invalid backoff/);
    assert.throws(() => new Backoff({ initialMs: 5000, maxMs: 1000 }), /invalid backoff/);
    assert.throws(() => new Backoff({ jitter: 1 }), /invalid backoff/);
  });
});
