// The README's test command: the import check, then every workspace's mocha tests in one
// run, ending with a plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Mocha from 'mocha';

const root = resolve(import.meta.dirname, '..');
const check = spawnSync(process.execPath, [join(root, 'scripts/check-imports.ts')], { stdio: 'inherit' });
if (check.status !== 0) process.exit(1);

function specs(dir: string, out: string[]): string[] {
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries.sort()) {
    if (e === 'node_modules') continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) specs(p, out);
    else if (p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
// The npm workspaces, in package.json's order (the cross-package e2e tests come last).
const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
const files = workspaces
  .flatMap((ws) => specs(join(root, ws, ws === 'tests' ? '.' : 'test'), []))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)));

const mocha = new Mocha({ timeout: 20000, reporter: 'spec' });
for (const f of files) mocha.addFile(f);
await mocha.loadFilesAsync();
const runner = mocha.run((failures) => {
  const s = runner.stats!;
  console.log(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`);
  process.exit(failures > 0 || s.passes === 0 ? 1 : 0);
});
