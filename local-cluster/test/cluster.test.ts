import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podBinPath, repoRoot } from '../src/cluster.ts';
import { assertComponentsBuilt, componentNodeFlags, componentWorkspaces, extraNodeFlags, proxyV8Flags } from '../src/components.ts';
import { sourceDigestFile, writeSourceDigest } from '../src/source-digest.ts';

describe('podBinPath', () => {
  it('puts the sample apps, the waypoint and the sidecar ahead of the pinned Node', () => {
    assert.deepEqual(podBinPath().slice(0, 3), [join(repoRoot, 'examples/bin'), join(repoRoot, 'waypoint/bin'), join(repoRoot, 'sidecar/bin')]);
    assert.equal(podBinPath()[3], join(process.execPath, '..'));
  });

  // The commands pods run (the waypoint Deployment's, the injected sidecar's): shell scripts, so
  // the flags they pass are pinned here to the ones the cluster gives its other proxies.
  for (const [component, what] of [
    ['waypoint', 'the waypoint Deployment command'],
    ['sidecar', 'the injected istio-proxy command'],
  ] as const)
    describe(`${component}/bin/ambient-${component} (${what})`, () => {
      const script = join(repoRoot, `${component}/bin/ambient-${component}`);
      let dir: string;
      beforeEach(() => {
        dir = mkdtempSync(join(tmpdir(), `ambient-${component}-`));
        // A stand-in `node` that prints what it was asked to run: what matters here is the command
        // line the script builds.
        writeFileSync(join(dir, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
      });
      afterEach(() => rmSync(dir, { recursive: true, force: true }));

      it('is executable', () => {
        accessSync(script, constants.X_OK);
      });

      for (const how of ['by its path', 'through a symlink']) {
        it(`runs node on the compiled ${component}/dist/main.js, with its arguments, ${how}`, () => {
          let target = script;
          if (how !== 'by its path') symlinkSync(script, (target = join(dir, `linked-${component}`)));
          const r = spawnSync(target, ['--flag', 'a b'], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
          assert.equal(r.status, 0, r.stderr);
          const [semiSpace, conditions, sourceMaps, main, ...args] = r.stdout.trimEnd().split('\n');
          assert.deepEqual([semiSpace, conditions, sourceMaps], [...proxyV8Flags, ...componentNodeFlags]);
          assert.equal(spawnSync('readlink', ['-f', main!], { encoding: 'utf8' }).stdout.trim(), join(repoRoot, `${component}/dist/main.js`));
          assert.deepEqual(args, ['--flag', 'a b']);
        });
      }
    });
});

describe('extraNodeFlags (MESH_NODE_FLAGS)', () => {
  it('splits the variable at spaces and is empty without it', () => {
    assert.deepEqual(extraNodeFlags({}), []);
    assert.deepEqual(extraNodeFlags({ MESH_NODE_FLAGS: '  --cpu-prof   --cpu-prof-dir=/tmp/p ' }), ['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
  });
});

describe('assertComponentsBuilt', () => {
  let root: string;
  const write = (path: string, content: string, mtime: number) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
    utimesSync(join(root, path), mtime, mtime);
  };
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'components-'));
    for (const ws of componentWorkspaces) {
      write(`${ws}/src/main.ts`, `export const ws = '${ws}';\n`, 1000);
      write(`${ws}/dist/main.js`, `export const ws = '${ws}';\n`, 2000);
      writeSourceDigest(join(root, ws));
    }
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('passes when every dist/ was built from its src/ as it is', () => {
    assertComponentsBuilt(root);
  });

  it('names a workspace without dist/ and one whose src/ changed since the build', () => {
    rmSync(join(root, 'hbone/dist'), { recursive: true });
    write('waypoint/src/route/match.ts', 'export {};\n', 3000);
    assert.throws(
      () => assertComponentsBuilt(root),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_COMPONENTS_NOT_BUILT' && /hbone \(no dist\/\), waypoint \(src\/ changed since the build\); run `npm run build`/.test(err.message),
    );
  });

  it('a src/ file touched but unchanged since the build is not stale (git checkout; turbo then replays its cache and leaves dist/ as it was)', () => {
    write('api/src/main.ts', "export const ws = 'api';\n", 3000);
    assertComponentsBuilt(root);
  });

  it('a dist/ without the digest of the sources it was built from is stale', () => {
    rmSync(join(root, 'ztunnel/dist', sourceDigestFile));
    assert.throws(() => assertComponentsBuilt(root), /ztunnel \(dist\/ does not say which sources it was built from\)/);
  });
});
