// `npm run bench [-- NAME...]`: runs the named benchmarks (all by default), one process each.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const benchmarks: Record<string, string> = {
  apiserver: 'apiserver-list-watch.ts',
  istiod: 'istiod-scale.ts',
  ztunnel: 'ztunnel-dataplane.ts',
  waypoint: 'waypoint-dataplane.ts',
  hbone: 'hbone-loopback.ts',
  connections: 'connections.ts',
  savings: 'savings.ts',
};
/**
 * Benchmark names come first; everything from the first option on is handed to each benchmark
 * as written, so an option's value after a space (`--pods 24,48`) is not taken for a name.
 */
export function splitBenchArgs(argv: readonly string[]): { names: string[]; args: string[] } {
  const firstOption = argv.findIndex((a) => a.startsWith('-'));
  const end = firstOption === -1 ? argv.length : firstOption;
  return { names: argv.slice(0, end), args: argv.slice(end) };
}

if (import.meta.main) {
  const { names, args } = splitBenchArgs(process.argv.slice(2));
  let failed = 0;
  for (const name of names.length ? names : Object.keys(benchmarks)) {
    const file = benchmarks[name];
    if (!file) {
      console.error(`unknown benchmark '${name}'; known: ${Object.keys(benchmarks).join(', ')}`);
      process.exit(1);
    }
    const r = spawnSync(process.execPath, [join(import.meta.dirname, file), ...args], { stdio: 'inherit' });
    if (r.status !== 0) failed++;
  }
  process.exit(failed ? 1 : 0);
}
