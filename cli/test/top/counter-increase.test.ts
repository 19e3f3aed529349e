import assert from 'node:assert/strict';
import { counterIncreases } from '../../src/top/counter-increase.ts';
import type { Sample } from '../../src/top/prometheus-text.ts';

const s = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value });
const values = (samples: Sample[]): [string, string | undefined, number][] => samples.map((x) => [x.name, x.labels.le ?? x.labels.code, x.value]);

describe('counterIncreases', () => {
  it('is the growth of each series since the earlier scrape', () => {
    const before = [s('req_total', 100, { code: '200' }), s('req_total', 5, { code: '503' })];
    const after = [s('req_total', 130, { code: '200' }), s('req_total', 5, { code: '503' })];
    assert.deepEqual(values(counterIncreases(before, after)), [
      ['req_total', '200', 30],
      ['req_total', '503', 0],
    ]);
  });

  it('matches series by their labels, whatever their order', () => {
    const before = [s('x', 1, { a: '1', b: '2' })];
    const after = [s('x', 4, { b: '2', a: '1' })];
    assert.equal(counterIncreases(before, after)[0]!.value, 3);
  });

  it('counts a series that went down from zero (the proxy restarted)', () => {
    assert.equal(counterIncreases([s('x', 1000)], [s('x', 7)])[0]!.value, 7);
  });

  it('counts a series new in the window from zero', () => {
    assert.deepEqual(values(counterIncreases([], [s('x', 3)])), [['x', undefined, 3]]);
  });

  it('leaves out a series that is gone', () => {
    assert.deepEqual(counterIncreases([s('x', 3), s('y', 1)], [s('y', 2)]), [s('y', 1)]);
  });

  it('resets a histogram as a whole when any of its buckets went down', () => {
    // Before the restart: 100 requests, 40 of them at most 10 ms. After: 50 requests, 45 at most
    // 10 ms. Bucket by bucket, le=10 would show 5 while +Inf showed 50.
    const a = (le: string, v: number) => s('d_bucket', v, { le, svc: 'a' });
    const b = (le: string, v: number) => s('d_bucket', v, { le, svc: 'b' });
    const before = [a('10', 40), a('+Inf', 100), s('d_count', 100, { svc: 'a' }), b('10', 1), b('+Inf', 1)];
    const after = [a('10', 45), a('+Inf', 50), s('d_count', 50, { svc: 'a' }), b('10', 2), b('+Inf', 3)];
    assert.deepEqual(
      counterIncreases(before, after).map((x) => [x.name, x.labels.svc, x.labels.le, x.value]),
      [
        ['d_bucket', 'a', '10', 45],
        ['d_bucket', 'a', '+Inf', 50],
        ['d_count', 'a', undefined, 50],
        // Another label tuple of the same histogram did not reset.
        ['d_bucket', 'b', '10', 1],
        ['d_bucket', 'b', '+Inf', 2],
      ],
    );
  });

  it('leaves out a value that is not a finite number', () => {
    assert.deepEqual(counterIncreases([s('x', 1), s('y', Number.NaN)], [s('x', Number.NaN), s('y', 4), s('z', Number.POSITIVE_INFINITY)]), [s('y', 4)]);
  });

  it('counts a series repeated within a scrape once, at its first value', () => {
    assert.deepEqual(counterIncreases([s('x', 1), s('x', 100)], [s('x', 5), s('x', 500)]), [s('x', 4)]);
  });
});
