// How much each counter of one proxy grew between two of its scrapes: Prometheus's increase()
// over exactly two points, with its rule for resets.
import type { Sample } from './prometheus-text.ts';

/**
 * One sample per series of `after` (a counter, or a histogram's cumulative _bucket/_sum/_count),
 * valued at its increase since `before`.
 *
 * - A series that went down was reset (the proxy restarted, or the waypoint evicted the series
 *   and made it anew), so it counts from zero: its whole `after` value is the increase.
 * - A histogram resets as a whole: if any of its series went down, all of them count from zero.
 *   Judged bucket by bucket, a bucket that refilled past its old count would keep only the
 *   difference while +Inf kept everything, and the quantile would drift toward +Inf.
 * - A series absent from `before` appeared in the window: prom-client (and the waypoint's own
 *   series store) creates a series at its first increment, so it counts from zero too.
 * - A series only in `before` is gone (restart, eviction) and contributes nothing.
 * - A value that is not a finite number (NaN, ±Inf) is no count: that series is left out.
 * - A series repeated within one scrape counts once, at its first value, so it is not counted
 *   twice (Prometheus refuses such a page; the sidecar's merged page keeps a family's first copy).
 */
export function counterIncreases(before: readonly Sample[], after: readonly Sample[]): Sample[] {
  const previous = new Map<string, number>();
  for (const s of before) {
    const key = seriesKey(s);
    if (Number.isFinite(s.value) && !previous.has(key)) previous.set(key, s.value);
  }
  const current: { sample: Sample; key: string; group: string }[] = [];
  const seen = new Set<string>();
  for (const s of after) {
    const key = seriesKey(s);
    if (!Number.isFinite(s.value) || seen.has(key)) continue;
    seen.add(key);
    current.push({ sample: s, key, group: resetGroupKey(s) });
  }
  const resetGroups = new Set<string>();
  for (const { sample, key, group } of current) {
    const old = previous.get(key);
    if (old !== undefined && sample.value < old) resetGroups.add(group);
  }
  return current.map(({ sample, key, group }) => {
    const old = resetGroups.has(group) ? undefined : previous.get(key);
    return { name: sample.name, labels: sample.labels, value: old === undefined ? sample.value : sample.value - old };
  });
}

const HISTOGRAM_SUFFIX = /_(?:bucket|sum|count)$/;

/** Name and labels; JSON so that no label value can make two series collide. */
function seriesKey(s: Sample): string {
  return JSON.stringify([s.name, sortedLabels(s.labels)]);
}

/**
 * The series that reset together: a histogram's _bucket, _sum and _count series share their
 * labels but for `le`. Any other series is its own group. (Two counters named `x_sum` and
 * `x_count` with the same labels would be grouped too; the proxies export no such pair.)
 */
function resetGroupKey(s: Sample): string {
  if (!HISTOGRAM_SUFFIX.test(s.name)) return seriesKey(s);
  const { le: _le, ...rest } = s.labels;
  return JSON.stringify([s.name.replace(HISTOGRAM_SUFFIX, ''), sortedLabels(rest)]);
}

function sortedLabels(labels: Record<string, string>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
