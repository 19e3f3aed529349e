// `npm run bench [-- NAME...]`: runs the named benchmarks (all by default), one process each.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const benchmarks: Record<string, string> = {
  apiserver: 'apiserver-list-watch.ts',
  istiod: 'istiod-scale.ts',
  ztunnel: 'ztunnel-dataplane.ts',
  waypoint: 'waypoint-dataplane.ts',
  hbone: 'hbone-loopback.ts',
  savings: 'savings.ts',
};
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('-'));
let failed = 0;
for (const name of names.length ? names : Object.keys(benchmarks)) {
  const file = benchmarks[name];
  if (!file) {
    console.error(`unknown benchmark '${name}'; known: ${Object.keys(benchmarks).join(', ')}`);
    process.exit(1);
  }
  const r = spawnSync(process.execPath, [join(import.meta.dirname, file), ...extra], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
