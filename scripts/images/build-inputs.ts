// What a build starts from, checked up front so a missing piece fails at once, named with its
// fix: the compiled workspaces (as fresh as their sources), the files their code reads, the
// Node binary, the Debian tools; and the source date every timestamp is set to.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { sourceDigest, sourceDigestFile } from '../../local-cluster/src/source-digest.ts';
import { ImageBuildError } from './image-build-error.ts';
import { type ImageSpec, workspaceRuntimeFiles } from './image-specs.ts';
import type { NpmClosure } from './npm-closure.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

/** The commands the build runs, and the Debian package that has each. */
const tools: Record<string, string> = { mmdebstrap: 'mmdebstrap', umoci: 'umoci', tar: 'tar', strip: 'binutils', 'dpkg-deb': 'dpkg', 'apt-get': 'apt' };

export function git(args: string[]): string | undefined {
  const r = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/** SOURCE_DATE_EPOCH if set, else the last commit's time, else 0: every timestamp in the images. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env.SOURCE_DATE_EPOCH;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^\d+$/.test(fromEnv))
      throw new ImageBuildError('ERR_IMAGES_USAGE', `SOURCE_DATE_EPOCH must be whole seconds since 1970, not ${JSON.stringify(fromEnv)}`);
    return Number(fromEnv);
  }
  return Number(git(['log', '-1', '--format=%ct']) ?? 0);
}

/** Repository paths, besides package.json and dist/ of the workspaces, the image's code reads. */
export function runtimeFiles(spec: ImageSpec, closure: NpmClosure): string[] {
  return [...closure.workspaces.flatMap((ws) => workspaceRuntimeFiles[ws.dir] ?? []), ...spec.extraFiles];
}

export function checkInputs(specs: ImageSpec[], closures: Map<string, NpmClosure>): void {
  const problems: string[] = [];
  const checked = new Set<string>();
  for (const spec of specs) {
    const closure = closures.get(spec.name)!;
    for (const ws of closure.workspaces) {
      if (checked.has(ws.dir)) continue;
      checked.add(ws.dir);
      // The local cluster's rule (local-cluster/src/source-digest.ts): dist/ must say it was built from src/ as it is.
      const stamp = join(repoRoot, ws.dir, 'dist', sourceDigestFile);
      if (!existsSync(join(repoRoot, ws.dir, 'dist'))) problems.push(`${ws.dir}/dist/ is missing`);
      else if (!existsSync(stamp)) problems.push(`${ws.dir}/dist/ does not say which sources it was built from`);
      else if (readFileSync(stamp, 'utf8').trim() !== sourceDigest(join(repoRoot, ws.dir))) problems.push(`${ws.dir}/dist/ is older than ${ws.dir}/src/`);
    }
    if (!existsSync(join(repoRoot, spec.workspace, 'dist/main.js'))) problems.push(`${spec.workspace}/dist/main.js is missing`);
    for (const f of runtimeFiles(spec, closure))
      if (!existsSync(join(repoRoot, f))) problems.push(`${f} is missing${f.endsWith('.node') ? ` (npm run build:native -w ${spec.workspace})` : ''}`);
    for (const p of spec.requiredPaths.filter((q) => q.startsWith('/app/')))
      if (!existsSync(join(repoRoot, p.slice('/app/'.length)))) problems.push(`${p.slice('/app/'.length)} is missing`);
  }
  if (!existsSync(join(repoRoot, 'node_modules/node/bin/node')))
    problems.push('node_modules/node/bin/node (the devDependency `node`) is missing: run `npm install`');
  if (problems.length > 0)
    throw new ImageBuildError(
      'ERR_IMAGES_INPUT_MISSING',
      `the images are made of the built workspaces, and ${problems.join('; ')}: run \`npm run build\` first (\`npm run images\` does)`,
    );
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function checkTools(env: NodeJS.ProcessEnv = process.env): void {
  const missing = Object.entries(tools).filter(([cmd]) => !onPath(cmd, env));
  if (missing.length > 0)
    throw new ImageBuildError(
      'ERR_IMAGES_TOOL_MISSING',
      `the image build runs ${missing.map(([c]) => c).join(', ')}, not found on PATH: apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(' ')}`,
    );
}
