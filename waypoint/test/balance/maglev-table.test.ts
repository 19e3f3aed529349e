import assert from 'node:assert/strict';
import { hashString, MaglevTable, nextPrime } from '../../src/balance/maglev-table.ts';

const names = (n: number, skip = -1): string[] => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:8080`).filter((_, i) => i !== skip);

describe('maglev table', () => {
  it('has the smallest prime number of slots that is at least the size asked for and the endpoint count', () => {
    assert.deepEqual([nextPrime(1024), nextPrime(65_537), nextPrime(1), nextPrime(90)], [1031, 65_537, 2, 97]);
    assert.equal(new MaglevTable(names(3), 1024).size, 1031);
    assert.equal(new MaglevTable(names(200), 10).size, 211);
  });

  it('gives every endpoint ⌊M/n⌋ or ⌈M/n⌉ slots', () => {
    for (const n of [1, 2, 7, 100]) {
      const t = new MaglevTable(names(n), 1031);
      const slots = new Array<number>(n).fill(0);
      for (let s = 0; s < t.size; s++) slots[t.lookup(s)]!++;
      assert.ok(Math.max(...slots) - Math.min(...slots) <= 1, `n=${n}: ${Math.min(...slots)}..${Math.max(...slots)}`);
    }
  });

  it('is the same table whatever order the endpoints come in', () => {
    const a = names(10);
    const b = [...a].reverse();
    const ta = new MaglevTable(a, 1031);
    const tb = new MaglevTable(b, 1031);
    for (let s = 0; s < ta.size; s++) assert.equal(a[ta.lookup(s)], b[tb.lookup(s)]);
  });

  it('moves about 1/N of the slots when one of N endpoints goes away, with a larger table moving fewer extra', () => {
    for (const [size, extra] of [
      [1031, 0.06],
      [65_537, 0.03],
    ] as const) {
      const all = names(10);
      const fewer = names(10, 3);
      const before = new MaglevTable(all, size);
      const after = new MaglevTable(fewer, size);
      let moved = 0;
      for (let s = 0; s < before.size; s++) if (all[before.lookup(s)] !== fewer[after.lookup(s)]) moved++;
      const share = moved / before.size;
      assert.ok(share >= 0.09 && share < 0.1 + extra, `table ${size}: ${(share * 100).toFixed(1)}% of the slots moved`);
    }
  });

  it('hashes strings to well-spread 32-bit values', () => {
    const buckets = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) buckets[hashString(`user-${i}`) >>> 28]!++;
    assert.ok(Math.min(...buckets) > 850 && Math.max(...buckets) < 1150, buckets.join(','));
    assert.equal(hashString('x'), hashString('x'));
  });

  it('refuses an empty endpoint set', () => {
    assert.throws(() => new MaglevTable([], 1031), /at least one endpoint, got none/);
  });
});
