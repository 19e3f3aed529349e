// Fails on an import cycle between our own source files, on imports that cross workspace
// boundaries other than through a package's public entry point, and on the edges the
// architecture forbids: ztunnel, waypoint, istiod-lite and the CNI agent never import each other
// (they share only @ambient/api and, for the two proxies, @ambient/hbone); hbone imports only @ambient/api;
// and the per-folder "never" rules below.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { root, tsFiles, workspaces } from './workspace-files.ts';

const isolated = new Set(['istiod-lite', 'ztunnel', 'waypoint', 'cni']);
/** Workspaces that may import only the listed ones of ours. */
const allowedImports: Record<string, string[]> = { api: [], hbone: ['api'], cni: ['api'] };
/** Folders (or files, without `.ts`) that must never import another, with the reason. */
const never: { from: string; to: string; why: string }[] = [
  { from: 'ztunnel/src/proxy/inbound', to: 'ztunnel/src/proxy/outbound', why: 'the inbound path stands alone: what both need lives in a module of its own' },
  { from: 'istiod-lite/src/kube/', to: 'istiod-lite/src/ca/', why: 'the Kubernetes sources feed the model; the CA reads them, never the other way round' },
  { from: 'istiod-lite/src/model/', to: 'istiod-lite/src/xds/', why: 'the model is pure: it knows nothing of how it is served' },
];
const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

const files = workspaces.flatMap((ws) => tsFiles(join(root, ws)));
const graph = new Map<string, string[]>();
const problems: string[] = [];

for (const file of files) {
  const ws = relative(root, file).split('/')[0]!;
  const src = readFileSync(file, 'utf8');
  const edges: string[] = [];
  for (const m of src.matchAll(importRe)) {
    const spec = (m[1] ?? m[2])!;
    const from = relative(root, file);
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      const to = relative(root, target);
      const targetWs = to.split('/')[0]!;
      if (targetWs !== ws) problems.push(`${from} reaches into ${targetWs}/ by path ('${spec}'); import '@ambient/${targetWs}' instead`);
      for (const rule of never) {
        if (from.startsWith(rule.from) && to.startsWith(rule.to)) problems.push(`${from} imports ${to}: ${rule.from} never imports ${rule.to} (${rule.why})`);
      }
      edges.push(target);
    } else if (spec.startsWith('@ambient/')) {
      const targetWs = spec.slice('@ambient/'.length).split('/')[0]!;
      if (spec === '@ambient/api/testing' && from.split('/')[1] === 'src') problems.push(`${from} imports ${spec}: test support is for tests only`);
      if (isolated.has(ws) && isolated.has(targetWs) && targetWs !== ws) {
        problems.push(`${from} imports ${spec}: ${ws} and ${targetWs} share code only through @ambient/api (and @ambient/hbone)`);
      }
      const allowed = allowedImports[ws];
      if (allowed && targetWs !== ws && !allowed.includes(targetWs))
        problems.push(`${from} imports ${spec}: ${ws} may import only ${allowed.map((w) => `@ambient/${w}`).join(', ') || 'nothing of ours'}`);
    }
  }
  graph.set(file, edges);
}

// Depth-first search for back edges.
const state = new Map<string, 1 | 2>();
const stack: string[] = [];
function visit(f: string): void {
  state.set(f, 1);
  stack.push(f);
  for (const t of graph.get(f) ?? []) {
    if (!graph.has(t)) continue;
    const s = state.get(t);
    if (s === 1) {
      const cycle = stack
        .slice(stack.indexOf(t))
        .concat(t)
        .map((p) => relative(root, p));
      problems.push(`import cycle: ${cycle.join(' -> ')}`);
    } else if (s === undefined) visit(t);
  }
  stack.pop();
  state.set(f, 2);
}
for (const f of graph.keys()) if (!state.has(f)) visit(f);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(`import check: ${files.length} files, no cycles, workspace boundaries respected`);
