// The benchmarks' knobs: numeric flags with defaults (`--pods 10000`), refused when not a number.
import { parseArgs } from 'node:util';

export function numberFlags<K extends string>(defaults: Record<K, number>, args = process.argv.slice(2)): Record<K, number> {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { type: 'string' as const, default: String(v) }]));
  const { values } = parseArgs({ args, options });
  const out = {} as Record<K, number>;
  for (const k of Object.keys(defaults) as K[]) {
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a non-negative number, got '${String(values[k])}'`);
    out[k] = n;
  }
  return out;
}
