// The mesh's own processes as the local cluster runs them: compiled JavaScript from each
// workspace's dist/ (`npm run build`), not TypeScript stripped at load time, which costs each
// process the type stripper (about 28 MiB of RSS per process, measured on the sidecar). The
// `ambient-dist` export condition makes a compiled workspace import the others compiled too.
//
// dist/ built from other sources than src/ holds would run stale code: the cluster refuses to
// start instead (ERR_COMPONENTS_NOT_BUILT), naming the workspace and the command that fixes it.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MeshError } from '@ambient/api';
import { sourceDigest, sourceDigestFile } from './source-digest.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

/** The workspaces whose processes the cluster runs (istiod-lite, the CNI agent, ztunnel, waypoint and sidecar pods) and what they import. */
export const componentWorkspaces = ['api', 'hbone', 'istiod-lite', 'cni', 'ztunnel', 'waypoint', 'sidecar'] as const;
export type Component = 'istiod-lite' | 'cni' | 'ztunnel' | 'waypoint' | 'sidecar';

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

/**
 * istiod-lite's: a 16 MiB semi-space (V8 otherwise grows the young generation to 128 MiB under
 * a sync). `npm run bench -- istiod` (10k pods, 100 subscribers), same machine, back to back:
 * RSS after the sync 594 → 514 MiB; 4 MiB gave 475 MiB but one change's p99 went 195 → 352 ms.
 */
export const istiodV8Flags = ['--max-semi-space-size=16'];

/**
 * Extra Node flags for every component, from `MESH_NODE_FLAGS` (split at spaces): for profiling,
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (a SIGTERM'd component exits cleanly and writes its
 * profile; a SIGKILL'd one writes nothing) or `--heapsnapshot-signal=SIGUSR2`. Node refuses
 * `--cpu-prof` in NODE_OPTIONS, hence the variable.
 */
export function extraNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.MESH_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
}

/** The command that runs a component's main, compiled. */
export function componentCommand(component: Component): string[] {
  return [
    process.execPath,
    ...componentNodeFlags,
    ...(component === 'istiod-lite' ? istiodV8Flags : proxyV8Flags),
    ...extraNodeFlags(),
    join(repoRoot, component, 'dist/main.js'),
  ];
}

/** Throws ERR_COMPONENTS_NOT_BUILT when a component workspace has no dist/, or one built from other sources. */
export function assertComponentsBuilt(root = repoRoot): void {
  const stale: string[] = [];
  for (const ws of componentWorkspaces) {
    const dist = join(root, ws, 'dist');
    const stamp = join(dist, sourceDigestFile);
    if (!existsSync(dist)) stale.push(`${ws} (no dist/)`);
    else if (!existsSync(stamp)) stale.push(`${ws} (dist/ does not say which sources it was built from)`);
    else if (readFileSync(stamp, 'utf8').trim() !== sourceDigest(join(root, ws))) stale.push(`${ws} (src/ changed since the build)`);
  }
  if (stale.length > 0)
    throw new MeshError('ERR_COMPONENTS_NOT_BUILT', `the mesh's components must be built first: ${stale.join(', ')}; run \`npm run build\``);
}
