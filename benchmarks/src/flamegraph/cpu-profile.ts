// The V8 CPU profile Node writes with `--cpu-prof` (a `.cpuprofile`, the Chrome DevTools
// Profiler.Profile): the call tree as `nodes` linked by `children`, and `samples`, the node each
// sample hit, with `timeDeltas` (µs) between them. Checked here, at the boundary, so the tree
// builder can trust ids and numbers; an error names the file, the field and the value.
import { MeshError } from '@ambient/api';

export type CpuProfileCallFrame = {
  functionName: string;
  url: string;
  /** 0-based; -1 for native frames. */
  lineNumber: number;
  columnNumber: number;
};

export type CpuProfileNode = {
  id: number;
  callFrame: CpuProfileCallFrame;
  /** Ids of the callees; absent on a leaf. */
  children?: number[];
};

export type CpuProfile = {
  nodes: CpuProfileNode[];
  /** µs, the profiler's clock. */
  startTime: number;
  endTime: number;
  /** The node id each sample hit. */
  samples: number[];
  /** µs since the previous sample (the first: since startTime). */
  timeDeltas: number[];
};

export class CpuProfileError extends MeshError<'ERR_CPU_PROFILE'> {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('ERR_CPU_PROFILE', `${file}: not a V8 CPU profile (.cpuprofile): ${message}`, options);
    this.file = file;
  }
}

/**
 * The profile in `text`, read from `file` (named in errors). Only the fields the flame graph
 * reads are checked; `hitCount` is not among them: the samples are the record (V8's hitCounts
 * can miss a sample or two of them).
 */
export function parseCpuProfile(text: string, file: string): CpuProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CpuProfileError(file, `not JSON (${(err as Error).message})`, { cause: err });
  }
  const bad = (path: string, value: unknown, expected: string): CpuProfileError =>
    new CpuProfileError(file, value === undefined ? `${path} is missing` : `${path} must be ${expected}, got ${shown(value)}`);
  const object = (path: string, v: unknown): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, v, 'an object');
    return v as Record<string, unknown>;
  };
  const array = (path: string, v: unknown): unknown[] => {
    if (!Array.isArray(v)) throw bad(path, v, 'an array');
    return v;
  };
  const number = (path: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(path, v, 'a finite number');
    return v;
  };
  const string = (path: string, v: unknown): string => {
    if (typeof v !== 'string') throw bad(path, v, 'a string');
    return v;
  };

  const root = object('the document', doc);
  const rawNodes = array('nodes', root.nodes);
  if (rawNodes.length === 0) throw new CpuProfileError(file, 'nodes is empty (there is no (root) node)');
  const ids = new Set<number>();
  const nodes = rawNodes.map((raw, i): CpuProfileNode => {
    const n = object(`nodes[${i}]`, raw);
    const id = number(`nodes[${i}].id`, n.id);
    if (ids.has(id)) throw bad(`nodes[${i}].id`, id, 'unique');
    ids.add(id);
    const cf = object(`nodes[${i}].callFrame`, n.callFrame);
    const callFrame: CpuProfileCallFrame = {
      functionName: string(`nodes[${i}].callFrame.functionName`, cf.functionName),
      url: string(`nodes[${i}].callFrame.url`, cf.url),
      lineNumber: number(`nodes[${i}].callFrame.lineNumber`, cf.lineNumber),
      columnNumber: number(`nodes[${i}].callFrame.columnNumber`, cf.columnNumber),
    };
    if (n.children === undefined) return { id, callFrame };
    return { id, callFrame, children: array(`nodes[${i}].children`, n.children).map((c, j) => number(`nodes[${i}].children[${j}]`, c)) };
  });

  // Every child is a known node with one parent, so the nodes form one tree the builder can
  // walk without looping forever on a malformed file.
  const parentOf = new Map<number, number>();
  nodes.forEach((n, i) => {
    n.children?.forEach((c, j) => {
      if (!ids.has(c)) throw bad(`nodes[${i}].children[${j}]`, c, 'the id of a node');
      if (parentOf.has(c) || c === n.id) throw bad(`nodes[${i}].children[${j}]`, c, 'a node no other node (nor itself) has as a child');
      parentOf.set(c, n.id);
    });
  });
  const roots = nodes.filter((n) => !parentOf.has(n.id));
  if (roots.length !== 1) throw new CpuProfileError(file, `nodes must form one tree, found ${roots.length} nodes without a parent`);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const reached = new Set<number>();
  for (const todo = [roots[0]!.id]; todo.length > 0; ) {
    const id = todo.pop()!;
    reached.add(id);
    todo.push(...(byId.get(id)!.children ?? []));
  }
  const stray = nodes.findIndex((n) => !reached.has(n.id));
  if (stray !== -1) throw new CpuProfileError(file, `nodes[${stray}] (id ${nodes[stray]!.id}) is not reachable from the root (id ${roots[0]!.id})`);

  const samples = array('samples', root.samples).map((s, i) => {
    const id = number(`samples[${i}]`, s);
    if (!ids.has(id)) throw bad(`samples[${i}]`, id, 'the id of a node');
    return id;
  });
  const timeDeltas = array('timeDeltas', root.timeDeltas).map((d, i) => number(`timeDeltas[${i}]`, d));
  if (timeDeltas.length !== samples.length)
    throw new CpuProfileError(file, `timeDeltas must have one entry per sample, got ${timeDeltas.length} for ${samples.length} samples`);
  const startTime = number('startTime', root.startTime);
  const endTime = number('endTime', root.endTime);
  if (endTime < startTime) throw bad('endTime', endTime, `at or after startTime (${startTime})`);
  return { nodes, startTime, endTime, samples, timeDeltas };
}

function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
