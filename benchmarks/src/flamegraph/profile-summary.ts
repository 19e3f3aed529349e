// The text beside a flame graph: how much was sampled, how much of it idle, and the functions
// that cost the most, by self time (where the samples landed) and inclusive time (on the stack).
// Idle is in the totals, and every share is also given of the busy samples, the ones that ran
// something, since an idle proxy's profile is mostly (idle).
import {
  CATEGORY_NAMES,
  FRAME_CATEGORIES,
  type Frame,
  type FrameCategory,
  type FrameTree,
  frameKey,
  frameLabel,
  isIdleFrame,
  meshWorkspaceOf,
} from './frame-tree.ts';

export type FunctionTime = {
  label: string;
  category: FrameCategory;
  /** Samples whose innermost frame is this function. */
  self: number;
  /** Samples with this function anywhere on the stack, counted once however deep it recurses. */
  inclusive: number;
  idle: boolean;
};

export type ProfileSummary = {
  samples: number;
  idleSamples: number;
  busySamples: number;
  durationMicros: number;
  /** Self samples per category, idle ones left out (they are `idleSamples`). */
  categories: Record<FrameCategory, number>;
  /** Self samples per mesh workspace (of our code's frames), largest first. */
  workspaces: [string, number][];
  /** Every function but (root), largest self time first. */
  functions: FunctionTime[];
};

export function summarizeFrameTree(tree: FrameTree): ProfileSummary {
  const byKey = new Map<string, FunctionTime>();
  const categories = Object.fromEntries(FRAME_CATEGORIES.map((c) => [c, 0])) as Record<FrameCategory, number>;
  const workspaces = new Map<string, number>();
  // How often each function is on the current path: a recursive call's samples are already in
  // its outer call's inclusive time.
  const onPath = new Map<string, number>();
  const visit = (frame: Frame): void => {
    const key = frameKey(frame);
    let fn = byKey.get(key);
    if (!fn) byKey.set(key, (fn = { label: frameLabel(frame), category: frame.category, self: 0, inclusive: 0, idle: isIdleFrame(frame) }));
    fn.self += frame.self;
    const depth = onPath.get(key) ?? 0;
    if (depth === 0) fn.inclusive += frame.total;
    if (!fn.idle) categories[frame.category] += frame.self;
    const ws = frame.category === 'mesh' ? meshWorkspaceOf(frame.url) : undefined;
    if (ws !== undefined) workspaces.set(ws, (workspaces.get(ws) ?? 0) + frame.self);
    onPath.set(key, depth + 1);
    frame.children.forEach(visit);
    onPath.set(key, depth);
  };
  visit(tree.root);
  byKey.delete(frameKey(tree.root));

  return {
    samples: tree.samples,
    idleSamples: tree.idleSamples,
    busySamples: tree.samples - tree.idleSamples,
    durationMicros: tree.durationMicros,
    categories,
    workspaces: [...workspaces].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]),
    functions: [...byKey.values()].sort((a, b) => b.self - a.self || b.inclusive - a.inclusive),
  };
}

/** The summary as the `.txt` beside the graph. */
export function renderProfileSummary(name: string, s: ProfileSummary, top = 25): string {
  const lines: string[] = [];
  const seconds = s.durationMicros / 1e6;
  lines.push(`CPU profile ${name}`);
  lines.push(
    `samples: ${s.samples} over ${seconds.toFixed(2)} s` +
      (s.samples > 0 ? ` (one every ${(s.durationMicros / s.samples / 1000).toFixed(2)} ms on average)` : ''),
  );
  lines.push(`idle: ${s.idleSamples} samples, ${pct(s.idleSamples, s.samples)}; busy: ${s.busySamples} samples, ${pct(s.busySamples, s.samples)}`);
  lines.push('');
  lines.push('self time by category');
  lines.push(row('samples', '% all', '% busy', 'category'));
  for (const c of FRAME_CATEGORIES)
    lines.push(row(String(s.categories[c]), pct(s.categories[c], s.samples), pct(s.categories[c], s.busySamples), CATEGORY_NAMES[c]));
  lines.push(row(String(s.idleSamples), pct(s.idleSamples, s.samples), '-', '(idle)'));
  if (s.workspaces.length > 0) {
    lines.push('');
    lines.push(`our code by workspace (self, % busy): ${s.workspaces.map(([ws, n]) => `${ws} ${pct(n, s.busySamples)}`).join(', ')}`);
  }
  const table = (heading: string, pick: (f: FunctionTime) => number): void => {
    lines.push('');
    lines.push(heading);
    lines.push(row('samples', '% all', '% busy', 'function'));
    const fns = s.functions
      .filter((f) => pick(f) > 0)
      .sort((a, b) => pick(b) - pick(a))
      .slice(0, top);
    for (const f of fns) lines.push(row(String(pick(f)), pct(pick(f), s.samples), f.idle ? '-' : pct(pick(f), s.busySamples), f.label));
    if (fns.length === 0) lines.push('  (none)');
  };
  table(`top ${top} functions by self time`, (f) => f.self);
  table(`top ${top} functions by inclusive time`, (f) => f.inclusive);
  return `${lines.join('\n')}\n`;
}

function row(samples: string, all: string, busy: string, what: string): string {
  return `${samples.padStart(9)} ${all.padStart(7)} ${busy.padStart(7)}  ${what}`;
}

function pct(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)}%`;
}
