// The README's test command: the import check, then every workspace's mocha tests in one
// run, ending with a plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Mocha from 'mocha';
import { root, tsFiles, workspaces } from './workspace-files.ts';

const check = spawnSync(process.execPath, [join(root, 'scripts/check-imports.ts')], { stdio: 'inherit' });
if (check.status !== 0) process.exit(1);

const filter = process.argv.slice(2);
// The cross-package e2e tests (the last workspace) run last.
const files = workspaces
  .flatMap((ws) => tsFiles(join(root, ws, ws === 'tests' ? '.' : 'test')).filter((f) => f.endsWith('.test.ts')))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)));

const mocha = new Mocha({ timeout: 20000, reporter: 'spec' });
for (const f of files) mocha.addFile(f);
await mocha.loadFilesAsync();
const runner = mocha.run((failures) => {
  const s = runner.stats!;
  console.log(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`);
  process.exit(failures > 0 || s.passes === 0 ? 1 : 0);
});
