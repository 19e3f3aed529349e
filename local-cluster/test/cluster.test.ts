import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podBinPath, repoRoot } from '../src/cluster.ts';

describe('podBinPath', () => {
  it('puts the sample apps, the waypoint and the sidecar ahead of the pinned Node', () => {
    assert.deepEqual(podBinPath().slice(0, 3), [join(repoRoot, 'examples/bin'), join(repoRoot, 'waypoint/bin'), join(repoRoot, 'sidecar/bin')]);
    assert.equal(podBinPath()[3], join(process.execPath, '..'));
  });

  describe('waypoint/bin/ambient-waypoint (the waypoint Deployment command)', () => {
    const script = join(repoRoot, 'waypoint/bin/ambient-waypoint');
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'ambient-waypoint-'));
      // A stand-in `node` that prints what it was asked to run: waypoint/src/main.ts is another
      // helper's, and what matters here is the command line the script builds.
      writeFileSync(join(dir, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('is executable', () => {
      accessSync(script, constants.X_OK);
    });

    for (const how of ['by its path', 'through a symlink']) {
      it(`runs node on waypoint/src/main.ts with its arguments, ${how}`, () => {
        let target = script;
        if (how !== 'by its path') symlinkSync(script, (target = join(dir, 'linked-waypoint')));
        const r = spawnSync(target, ['--flag', 'a b'], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const [main, ...args] = r.stdout.trimEnd().split('\n');
        assert.equal(spawnSync('readlink', ['-f', main!], { encoding: 'utf8' }).stdout.trim(), join(repoRoot, 'waypoint/src/main.ts'));
        assert.deepEqual(args, ['--flag', 'a b']);
      });
    }
  });
});
