import assert from 'node:assert/strict';
import { type Bucket, histogramQuantile } from '../../src/top/histogram-quantile.ts';

const INF = Number.POSITIVE_INFINITY;
const b = (...pairs: [number, number][]): Bucket[] => pairs.map(([le, count]) => ({ le, count }));

// 100 requests in Istio's default buckets: 10 in (1, 5], 50 in (5, 10], 30 in (10, 25],
// 8 in (25, 50], 2 in (50, 100].
const LATENCIES = b([0.5, 0], [1, 0], [5, 10], [10, 60], [25, 90], [50, 98], [100, 100], [250, 100], [INF, 100]);

describe('histogramQuantile', () => {
  const cases: { why: string; q: number; buckets: Bucket[]; want: number | undefined }[] = [
    // rank 50 falls in (5, 10], which holds ranks 11..60: 5 + 5 × (50 − 10) / 50.
    { why: 'p50 interpolates inside its bucket', q: 0.5, buckets: LATENCIES, want: 9 },
    // rank 99 falls in (50, 100], which holds ranks 99..100: 50 + 50 × (99 − 98) / 2.
    { why: 'p99 interpolates inside its bucket', q: 0.99, buckets: LATENCIES, want: 75 },
    // rank 90 is exactly the (10, 25] bucket's top.
    { why: 'a rank on a bucket edge gives the edge', q: 0.9, buckets: LATENCIES, want: 25 },
    { why: 'q = 1 gives the highest bucket holding observations', q: 1, buckets: LATENCIES, want: 100 },
    { why: 'the first bucket starts at 0', q: 0.5, buckets: b([10, 4], [INF, 4]), want: 5 },
    { why: 'in the +Inf bucket, the highest finite bound', q: 0.99, buckets: b([10, 4], [INF, 10]), want: 10 },
    { why: 'a first bound at or below 0 is returned as is', q: 0.5, buckets: b([-1, 5], [INF, 5]), want: -1 },
    { why: 'buckets in any order', q: 0.5, buckets: [...LATENCIES].reverse(), want: 9 },
    // (5, 10] would hold −2; evened out to 0, so rank 5 falls in (0, 5]: 5 × 5 / 10.
    { why: 'a bucket below the one before is evened out first', q: 0.5, buckets: b([5, 10], [10, 8], [INF, 10]), want: 2.5 },
    { why: 'fractional counts (rates)', q: 0.5, buckets: b([10, 0.5], [20, 1.5], [INF, 2]), want: 15 },
    { why: 'no observations', q: 0.5, buckets: b([10, 0], [INF, 0]), want: undefined },
    { why: 'no +Inf bucket', q: 0.5, buckets: b([10, 4], [20, 8]), want: undefined },
    { why: 'the +Inf bucket alone', q: 0.5, buckets: b([INF, 8]), want: undefined },
    { why: 'no buckets', q: 0.5, buckets: [], want: undefined },
    { why: 'q = 0', q: 0, buckets: LATENCIES, want: undefined },
    { why: 'q above 1', q: 1.5, buckets: LATENCIES, want: undefined },
    { why: 'q NaN', q: Number.NaN, buckets: LATENCIES, want: undefined },
  ];
  for (const c of cases) {
    it(`${c.want === undefined ? 'has no answer for' : 'answers'} ${c.why}`, () => {
      assert.equal(histogramQuantile(c.q, c.buckets), c.want);
    });
  }

  it('drops a bucket whose bound is NaN instead of sorting it anywhere', () => {
    assert.equal(histogramQuantile(0.5, [...LATENCIES, { le: Number.NaN, count: 1000 }]), 9);
  });
});
