// The mesh's own processes as the local cluster runs them: compiled JavaScript from each
// workspace's dist/ (`npm run build`), not TypeScript stripped at load time, which costs each
// process the type stripper (about 28 MiB of RSS per process, measured on the sidecar). The
// `ambient-dist` export condition makes a compiled workspace import the others compiled too.
//
// dist/ older than src/ would run stale code: the cluster refuses to start instead
// (ERR_COMPONENTS_NOT_BUILT), naming the workspace and the command that fixes it.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MeshError } from '@ambient/api';

export const repoRoot = resolve(import.meta.dirname, '../..');

/** The workspaces whose processes the cluster runs (istiod-lite, ztunnel, waypoint and sidecar pods) and what they import. */
export const componentWorkspaces = ['api', 'hbone', 'istiod-lite', 'ztunnel', 'waypoint', 'sidecar'] as const;
export type Component = 'istiod-lite' | 'ztunnel' | 'waypoint' | 'sidecar';

/** Node flags every compiled component runs with: the compiled imports, stack traces mapped to src/. */
export const componentNodeFlags = ['--conditions=ambient-dist', '--enable-source-maps'];

/**
 * V8 flags of the proxies (ztunnel, waypoint, sidecar; not istiod-lite): a 1 MiB semi-space caps
 * the young generation, which under load otherwise grows to ~48 MiB per process. Measured with
 * `npm run bench -- ztunnel` (500 req/s, same machine, back to back): ztunnel RSS 115/166 MiB →
 * 99/106 MiB, CPU per 1000 requests 0.556 → 0.572 s. The waypoint and sidecar bin scripts pass
 * the same flag.
 */
export const proxyV8Flags = ['--max-semi-space-size=1'];

/** The command that runs a component's main, compiled. */
export function componentCommand(component: Component): string[] {
  return [process.execPath, ...componentNodeFlags, ...(component === 'istiod-lite' ? [] : proxyV8Flags), join(repoRoot, component, 'dist/main.js')];
}

/** Newest (or oldest) mtime of the files under `dir` with `ext`; undefined when there are none. */
function mtimes(dir: string, ext: string): { newest: number; oldest: number } | undefined {
  let newest = 0;
  let oldest = Number.POSITIVE_INFINITY;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(ext)) {
        const t = statSync(p).mtimeMs;
        newest = Math.max(newest, t);
        oldest = Math.min(oldest, t);
      }
    }
  };
  try {
    walk(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return newest === 0 ? undefined : { newest, oldest };
}

/** Throws ERR_COMPONENTS_NOT_BUILT when a component workspace has no dist/, or one older than its src/. */
export function assertComponentsBuilt(root = repoRoot): void {
  const stale: string[] = [];
  for (const ws of componentWorkspaces) {
    const src = mtimes(join(root, ws, 'src'), '.ts');
    const dist = mtimes(join(root, ws, 'dist'), '.js');
    if (dist === undefined) stale.push(`${ws} (no dist/)`);
    else if (src !== undefined && src.newest > dist.oldest) stale.push(`${ws} (src/ changed since the build)`);
  }
  if (stale.length > 0)
    throw new MeshError('ERR_COMPONENTS_NOT_BUILT', `the mesh's components must be built first: ${stale.join(', ')}; run \`npm run build\``);
}
