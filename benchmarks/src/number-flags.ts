// The benchmarks' knobs: numeric flags with defaults (`--pods 10000`), refused when not a number,
// and, for the benchmarks that write a result document, `--json FILE` (`-` for stdout).
import { parseArgs } from 'node:util';

export function numberFlags<K extends string>(defaults: Record<K, number>, args = process.argv.slice(2)): Record<K, number> {
  return parseFlags(defaults, args, false).flags;
}

/** The numeric flags, and where `--json` asks for the result document (undefined: nowhere). */
export function benchFlags<K extends string>(
  defaults: Record<K, number>,
  args = process.argv.slice(2),
): { flags: Record<K, number>; json: string | undefined } {
  return parseFlags(defaults, args, true);
}

function parseFlags<K extends string>(defaults: Record<K, number>, args: string[], withJson: boolean): { flags: Record<K, number>; json: string | undefined } {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { type: 'string' as const, default: String(v) }]));
  const values = parseArgs({ args, options: withJson ? { ...options, json: { type: 'string' as const } } : options }).values as Record<
    string,
    string | undefined
  >;
  const flags = {} as Record<K, number>;
  for (const k of Object.keys(defaults) as K[]) {
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a non-negative number, got '${String(values[k])}'`);
    flags[k] = n;
  }
  const json = values.json;
  if (json === '') throw new Error("--json needs a file name, or '-' for stdout");
  return { flags, json };
}
