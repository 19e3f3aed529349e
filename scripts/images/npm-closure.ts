// Which packages a workspace loads at run time: its package.json dependencies, followed
// transitively, each resolved the way Node resolves it (the nearest node_modules/<name> up the
// tree from the requiring package). The image copies exactly these directories, at the same
// paths relative to the repository, so every require/import resolves as it does in the repo.
import { existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { ImageBuildError } from './image-build-error.ts';

type PackageJson = {
  name?: string;
  version?: string;
  license?: string | { type?: string };
  licenses?: { type?: string }[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

/** A third-party package in the image. */
export type NpmPackage = {
  name: string;
  version: string;
  /** The package.json licence, when it is one SPDX expression; undefined otherwise. */
  license: string | undefined;
  /** Repository-relative directory, e.g. node_modules/@grpc/grpc-js. */
  dir: string;
  /** From package-lock.json: where npm fetched it and its sha512 (base64), when recorded. */
  resolved: string | undefined;
  integrity: string | undefined;
};

/** One of our workspaces in the image (its package.json and dist/). */
export type WorkspacePackage = {
  name: string;
  version: string;
  /** The workspace directory, e.g. api. */
  dir: string;
  /** Where node_modules links to it (e.g. node_modules/@ambient/api); undefined for the image's own workspace. */
  link: string | undefined;
};

export type NpmClosure = { workspaces: WorkspacePackage[]; packages: NpmPackage[] };

const readJson = (file: string): PackageJson => JSON.parse(readFileSync(file, 'utf8')) as PackageJson;

/** An SPDX licence expression, or undefined ("SEE LICENSE IN …", "UNLICENSED", free text). */
export function spdxLicense(pkg: PackageJson): string | undefined {
  const raw = typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? pkg.licenses?.map((l) => l.type).join(' OR '));
  if (!raw) return undefined;
  const expr = raw.trim().replace(/^\((.*)\)$/, '$1');
  const ids = expr.split(/\s+(?:AND|OR|WITH)\s+|[()\s]+/).filter((s) => s !== '');
  return ids.length > 0 && ids.every((id) => /^(LicenseRef-)?[A-Za-z0-9][A-Za-z0-9.+-]*$/.test(id)) && !/^UNLICENSED$/i.test(expr) ? raw.trim() : undefined;
}

/** Node's lookup from `fromDir`: <dir>/node_modules/<name> for each ancestor up to `root`. */
function resolvePackageDir(root: string, fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
    }
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

/**
 * The run-time closure of `workspace`: our workspaces it reaches (itself first) and the
 * third-party packages, sorted by directory. `buildOnly` names dependencies of the workspace
 * itself that are never loaded at run time (left out, with their own dependencies).
 */
export function npmClosure(root: string, workspace: string, buildOnly: string[] = []): NpmClosure {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; integrity?: string }> };
  const workspaces = new Map<string, WorkspacePackage>();
  const packages = new Map<string, NpmPackage>();
  const pending: { dir: string; manifest: PackageJson; skip: string[] }[] = [];

  const own = readJson(join(root, workspace, 'package.json'));
  workspaces.set(workspace, { name: own.name ?? workspace, version: own.version ?? '0.0.0', dir: workspace, link: undefined });
  pending.push({ dir: join(root, workspace), manifest: own, skip: buildOnly });

  while (pending.length > 0) {
    const { dir, manifest, skip } = pending.shift()!;
    const optionalPeers = new Set(Object.entries(manifest.peerDependenciesMeta ?? {}).flatMap(([n, m]) => (m.optional ? [n] : [])));
    const wanted: { name: string; required: boolean }[] = [
      ...Object.keys(manifest.dependencies ?? {}).map((name) => ({ name, required: !(name in (manifest.optionalDependencies ?? {})) })),
      ...Object.keys(manifest.optionalDependencies ?? {}).map((name) => ({ name, required: false })),
      // npm installs a package's non-optional peers; optional ones are the host's choice.
      ...Object.keys(manifest.peerDependencies ?? {})
        .filter((name) => !optionalPeers.has(name))
        .map((name) => ({ name, required: true })),
    ];
    for (const { name, required } of wanted) {
      if (skip.includes(name)) continue;
      const found = resolvePackageDir(root, dir, name);
      if (!found) {
        if (!required) continue;
        throw new ImageBuildError(
          'ERR_IMAGES_DEPENDENCY_MISSING',
          `${relative(root, dir) || '.'} depends on ${name}, which is not installed under ${root}; run \`npm install\``,
        );
      }
      const rel = relative(root, found);
      const real = realpathSync(found);
      if (lstatSync(found).isSymbolicLink()) {
        const ws = relative(root, real);
        if (ws.startsWith('..') || ws.includes('node_modules') || ws.includes('/'))
          throw new ImageBuildError('ERR_IMAGES_DEPENDENCY_MISSING', `${rel} links to ${real}, which is neither a package nor a workspace of this repository`);
        if (workspaces.has(ws)) continue;
        const m = readJson(join(real, 'package.json'));
        workspaces.set(ws, { name: m.name ?? name, version: m.version ?? '0.0.0', dir: ws, link: rel });
        pending.push({ dir: real, manifest: m, skip: [] });
        continue;
      }
      if (packages.has(rel)) continue;
      const m = readJson(join(found, 'package.json'));
      const locked = lock.packages[rel];
      packages.set(rel, {
        name: m.name ?? name,
        version: m.version ?? '0.0.0',
        license: spdxLicense(m),
        dir: rel,
        resolved: locked?.resolved,
        integrity: locked?.integrity,
      });
      pending.push({ dir: found, manifest: m, skip: [] });
    }
  }
  const byDir = (a: { dir: string }, b: { dir: string }): number => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0);
  const [self, ...others] = workspaces.values();
  return { workspaces: [self!, ...others.sort(byDir)], packages: [...packages.values()].sort(byDir) };
}
