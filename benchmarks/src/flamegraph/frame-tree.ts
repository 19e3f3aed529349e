// A CPU profile as the flame graph draws it: one Frame per distinct stack (the path of frames
// from the root), with the samples taken there. V8's tree can hold the same frame twice under
// one parent (the same function seen at different positions); those merge here.
import type { CpuProfile, CpuProfileCallFrame } from './cpu-profile.ts';

/** Whose code a frame runs; the flame graph colours by it. */
export type FrameCategory = 'mesh' | 'node_modules' | 'node' | 'native' | 'other';

export const FRAME_CATEGORIES: readonly FrameCategory[] = ['mesh', 'node_modules', 'node', 'native', 'other'];

export const CATEGORY_NAMES: Record<FrameCategory, string> = {
  mesh: 'our code',
  node_modules: 'node_modules',
  node: 'node: internals',
  native: 'V8 / native ((program), GC, builtins)',
  other: 'other JavaScript',
};

export type Frame = {
  /** V8's name; '' for an anonymous function. */
  functionName: string;
  url: string;
  /** 1-based; 0 when V8 gives none (native frames). */
  line: number;
  column: number;
  category: FrameCategory;
  /** Samples whose innermost frame this is. */
  self: number;
  /** Samples with this frame on their stack: self plus the children's totals. */
  total: number;
  /** Sorted by label, as a classic flame graph orders siblings. */
  children: Frame[];
};

export type FrameTree = {
  /** V8's (root); its total is every sample. */
  root: Frame;
  samples: number;
  /** Samples in (idle): the thread was waiting, not running anything. */
  idleSamples: number;
  /** endTime - startTime of the profile. */
  durationMicros: number;
};

/**
 * The mesh's workspaces (the root package.json's, less the sample apps, tests and benchmarks).
 * A frame is ours when its file sits in one of them, compiled (`dist/`) or not.
 */
export const MESH_WORKSPACES = ['api', 'hbone', 'istiod-lite', 'ztunnel', 'waypoint', 'sidecar', 'local-cluster', 'cli'] as const;

// The workspace directory followed by one of its source folders: `/api/` alone would also match
// a directory of that name above the checkout or inside a workspace (`ztunnel/src/api/`).
const meshPath = new RegExp(`/(?:node_modules/@ambient/)?(${MESH_WORKSPACES.join('|')})/(?:src|dist|bin|test)/`);

/** The mesh workspace a script belongs to, or undefined when it is not ours. */
export function meshWorkspaceOf(url: string): string | undefined {
  if (url.includes('/node_modules/') && !url.includes('/node_modules/@ambient/')) return undefined;
  return meshPath.exec(url)?.[1];
}

export function frameCategory(url: string): FrameCategory {
  if (url === '') return 'native'; // (root), (program), (idle), (garbage collector), V8 builtins
  if (url.startsWith('node:')) return 'node';
  if (meshWorkspaceOf(url) !== undefined) return 'mesh';
  if (url.includes('/node_modules/')) return 'node_modules';
  return 'other';
}

/** The last two segments of a script's path: `proxy/outbound.js`, `modules/run_main`. */
export function shortPath(url: string): string {
  let path = url.replace(/^file:\/\//, '').replace(/[?#].*$/, '');
  try {
    path = decodeURIComponent(path);
  } catch {
    // Not percent-encoded after all; shown as written.
  }
  return path.split('/').filter(Boolean).slice(-2).join('/');
}

/** `function (file:line)`, or the bare name for a frame without a script. */
export function frameLabel(frame: Pick<Frame, 'functionName' | 'url' | 'line'>): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  return `${name} (${shortPath(frame.url)}${frame.line > 0 ? `:${frame.line}` : ''})`;
}

/** V8's frame for the samples taken while the thread waited (Node's event loop, in epoll). */
export function isIdleFrame(frame: Pick<Frame, 'functionName' | 'url'>): boolean {
  return frame.url === '' && frame.functionName === '(idle)';
}

export function buildFrameTree(profile: CpuProfile): FrameTree {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const hasParent = new Set(profile.nodes.flatMap((n) => n.children ?? []));
  const v8Root = profile.nodes.find((n) => !hasParent.has(n.id))!;

  const root = newFrame(v8Root.callFrame);
  const frameOfNode = new Map([[v8Root.id, root]]);
  const childByKey = new Map<Frame, Map<string, Frame>>();
  // Parents before children: walked backwards, every frame's total is complete before it is
  // added to its parent's.
  const created: [Frame, Frame][] = [];
  for (const todo = [v8Root]; todo.length > 0; ) {
    const node = todo.pop()!;
    const parent = frameOfNode.get(node.id)!;
    for (const childId of node.children ?? []) {
      const child = byId.get(childId)!;
      const candidate = newFrame(child.callFrame);
      const key = frameKey(candidate);
      let siblings = childByKey.get(parent);
      if (!siblings) childByKey.set(parent, (siblings = new Map()));
      let frame = siblings.get(key);
      if (!frame) {
        siblings.set(key, (frame = candidate));
        parent.children.push(frame);
        created.push([frame, parent]);
      }
      frameOfNode.set(childId, frame);
      todo.push(child);
    }
  }

  let idleSamples = 0;
  for (const id of profile.samples) {
    const frame = frameOfNode.get(id)!;
    frame.self++;
    if (isIdleFrame(frame)) idleSamples++;
  }
  for (const frame of [root, ...created.map(([f]) => f)]) frame.total = frame.self;
  for (let i = created.length - 1; i >= 0; i--) created[i]![1].total += created[i]![0].total;
  for (const frame of [root, ...created.map(([f]) => f)]) frame.children.sort(byLabel);

  return { root, samples: profile.samples.length, idleSamples, durationMicros: profile.endTime - profile.startTime };
}

/** What makes two frames the same function: its name, script and position. */
export function frameKey(frame: Pick<Frame, 'functionName' | 'url' | 'line' | 'column'>): string {
  return `${frame.functionName}\u0000${frame.url}\u0000${frame.line}\u0000${frame.column}`;
}

function newFrame(cf: CpuProfileCallFrame): Frame {
  return {
    functionName: cf.functionName,
    url: cf.url,
    line: cf.lineNumber >= 0 ? cf.lineNumber + 1 : 0,
    column: cf.columnNumber >= 0 ? cf.columnNumber + 1 : 0,
    category: frameCategory(cf.url),
    self: 0,
    total: 0,
    children: [],
  };
}

function byLabel(a: Frame, b: Frame): number {
  const la = frameLabel(a);
  const lb = frameLabel(b);
  return la < lb ? -1 : la > lb ? 1 : 0;
}
