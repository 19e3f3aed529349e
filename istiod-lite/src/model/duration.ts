// Durations as Gateway API ("1h30m", "500ms") and Istio ("1.5s", "5m") write them, in ms.

const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** Milliseconds (rounded up so a tiny timeout never becomes "none"), or undefined when malformed. */
export function parseDurationMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '' || v.length > 64) return undefined;
  const part = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;
  let total = 0;
  let pos = 0;
  while (pos < v.length) {
    part.lastIndex = pos;
    const m = part.exec(v);
    if (!m) return undefined;
    total += Number(m[1]) * unitMs[m[2]!]!;
    pos = part.lastIndex;
  }
  return Math.ceil(total);
}
