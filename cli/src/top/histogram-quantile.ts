// A quantile from cumulative histogram buckets, computed as Prometheus's histogram_quantile()
// does (promql/quantile.go, classic buckets), so the latency `top` shows matches what a Grafana
// panel over the same proxies shows for the same window.

/** A cumulative bucket: how many observations were at most `le`. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The q-quantile (0 < q ≤ 1) of the observations the buckets count, interpolated linearly inside
 * the bucket it falls in; undefined when there is nothing to estimate from: no observations, no
 * +Inf bucket, fewer than two buckets, or q outside (0, 1]. (q = 0 would divide 0 by an empty
 * first bucket; `top` asks for p50 and p99.)
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  if (!(q > 0 && q <= 1)) return undefined;
  // A NaN bound has no place in the order; such a bucket is dropped rather than sorted at random.
  const sorted = monotonic(buckets.filter((b) => !Number.isNaN(b.le)).sort((a, b) => a.le - b.le));
  if (sorted.length < 2) return undefined;
  const last = sorted.at(-1)!;
  // Without +Inf the total is unknown, so no rank can be placed (Prometheus returns NaN).
  if (last.le !== Number.POSITIVE_INFINITY) return undefined;
  const total = last.count;
  if (!(total > 0)) return undefined;
  let rank = q * total;
  let b = sorted.findIndex((x) => x.count >= rank);
  // findIndex cannot miss (the +Inf bucket holds the total); kept for the type.
  if (b === -1) b = sorted.length - 1;
  // In the +Inf bucket there is no upper edge to interpolate to: the highest finite bound is the
  // best known answer, as Prometheus answers.
  if (b === sorted.length - 1) return sorted[b - 1]!.le;
  const end = sorted[b]!.le;
  // The first bucket is taken to start at 0 (durations are not negative), unless its bound is
  // already at or below 0.
  if (b === 0 && end <= 0) return end;
  let start = 0;
  let count = sorted[b]!.count;
  if (b > 0) {
    start = sorted[b - 1]!.le;
    count -= sorted[b - 1]!.count;
    rank -= sorted[b - 1]!.count;
  }
  return start + (end - start) * (rank / count);
}

/**
 * Cumulative counts that never go down. Summing bucket increases from proxies scraped a moment
 * apart, or a reset in the window, can leave a higher bucket a little below a lower one;
 * Prometheus evens that out the same way before it interpolates.
 */
function monotonic(sorted: Bucket[]): Bucket[] {
  let max = 0;
  return sorted.map((b) => {
    max = Math.max(max, b.count);
    return { le: b.le, count: max };
  });
}
