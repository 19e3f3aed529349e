// One benchmark run as a document (`--json FILE`) and as the terminal table: each figure beside
// the same run's baseline (the direct path, where the benchmark has one) and the performance
// issue's goal, judged met, missed or not measured. Nothing here does I/O: a benchmark fills the
// rows, bench-output.ts adds the run's context and writes the document, and parseBenchResult
// reads one back (the savings report, CI's smoke runs), naming the first bad field.

export const GOAL_OPS = ['<=', '>='] as const;
export type GoalOp = (typeof GOAL_OPS)[number];
/** What a goal's limit applies to when not the row's value itself: value − baseline ('added',
 *  e.g. latency added over direct) or value / baseline ('ratio', e.g. throughput of direct's). */
export const GOAL_ON = ['added', 'ratio'] as const;
export type GoalOn = (typeof GOAL_ON)[number];

export interface Goal {
  op: GoalOp;
  limit: number;
  /** Absent: the limit applies to the value. */
  on?: GoalOn;
}

export const VERDICTS = ['met', 'missed', 'not measured'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface BenchRow {
  /** What was measured, e.g. `RSS idle, ztunnel node-1`; unique within a document. */
  figure: string;
  /** `ms`, `MiB`, `MiB/s`, `req/s`, `CPU-s`, `%`, ... ('' for a count). */
  unit: string;
  /** The same figure in the same run's baseline (e.g. direct, no proxy), when the benchmark has
   *  one for it; null when the baseline phase gave no number. */
  baseline?: number | null;
  /** null: not measured (the phase failed or gave no sample). */
  value: number | null;
  goal?: Goal;
  /** Present exactly when the goal is, and always what judgeGoal says. */
  verdict?: Verdict;
}

export interface BenchResult {
  /** The name `npm run bench -- NAME` runs: ztunnel, hbone, istiod, connections, waypoint. */
  benchmark: string;
  /** ISO 8601. */
  finishedAt: string;
  /** process.version of the run. */
  node: string;
  /** `git rev-parse HEAD` where the run was made; null outside a git checkout. */
  commit: string | null;
  /** The benchmark's flags as they were in effect (defaults included). */
  flags: Record<string, number | string | boolean>;
  rows: BenchRow[];
  /** What makes the run doubtful or failed (request errors, lost bytes, a timeout); the
   *  benchmark exits 1 when there is any. */
  problems: string[];
}

/** The number a goal's limit is compared with: the value, its difference from the baseline, or
 *  their ratio; null when a number it needs is missing (or the baseline is 0, for a ratio). */
export function goalSubject(row: Pick<BenchRow, 'value' | 'baseline' | 'goal'>): number | null {
  const { value, baseline, goal } = row;
  if (value === null) return null;
  if (goal?.on === undefined) return value;
  if (baseline === undefined || baseline === null) return null;
  if (goal.on === 'added') return value - baseline;
  return baseline === 0 ? null : value / baseline;
}

export function judgeGoal(row: Pick<BenchRow, 'value' | 'baseline' | 'goal'>): Verdict | undefined {
  if (row.goal === undefined) return undefined;
  const subject = goalSubject(row);
  if (subject === null) return 'not measured';
  return (row.goal.op === '<=' ? subject <= row.goal.limit : subject >= row.goal.limit) ? 'met' : 'missed';
}

const finiteOrNull = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A row with its verdict: a figure that is not a finite number (NaN from no samples, a phase
 *  that failed) becomes null, i.e. not measured, rather than a JSON null passing for a number. */
export function benchRow(figure: string, unit: string, value: number | null | undefined, opts: { baseline?: number | null; goal?: Goal } = {}): BenchRow {
  const row: BenchRow = { figure, unit, ...('baseline' in opts ? { baseline: finiteOrNull(opts.baseline) } : {}), value: finiteOrNull(value) };
  if (opts.goal !== undefined) {
    row.goal = opts.goal;
    row.verdict = judgeGoal(row);
  }
  return row;
}

export function findRow(result: Pick<BenchResult, 'rows'>, figure: string): BenchRow | undefined {
  return result.rows.find((r) => r.figure === figure);
}

// ---- the terminal table -------------------------------------------------------------------

/** A figure in about three significant digits, never in exponent form for what we measure. */
export function formatNumber(v: number): string {
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return String(Number(v.toPrecision(3)));
}

export function withUnit(v: number, unit: string): string {
  if (unit === '') return formatNumber(v);
  return unit === '%' ? `${formatNumber(v)}%` : `${formatNumber(v)} ${unit}`;
}

/** The goal as the issue states it: `≤ 55 MiB`, `≤ +0.25 ms over direct`, `≥ 45% of direct`. */
export function goalText(goal: Goal, unit: string, baselineName = 'baseline'): string {
  const op = goal.op === '<=' ? '≤' : '≥';
  if (goal.on === 'added') return `${op} ${goal.limit >= 0 ? '+' : ''}${withUnit(goal.limit, unit)} over ${baselineName}`;
  if (goal.on === 'ratio') return `${op} ${formatNumber(goal.limit * 100)}% of ${baselineName}`;
  return `${op} ${withUnit(goal.limit, unit)}`;
}

/** Loud when missed, as the waypoint table has printed it. */
export function verdictText(v: Verdict): string {
  return v === 'not measured' ? 'not measured' : v.toUpperCase();
}

/** `≤ 55 MiB: MISSED`: the goal column of a row that has a goal, '' otherwise. */
export function goalCell(row: BenchRow, baselineName?: string): string {
  if (row.goal === undefined) return '';
  return `${goalText(row.goal, row.unit, baselineName)}: ${verdictText(row.verdict ?? judgeGoal(row)!)}`;
}

/** The baseline comparison: the difference and the ratio, `+0.29 ms (181%)`. */
function versus(row: BenchRow): string {
  if (row.value === null || row.baseline === undefined || row.baseline === null) return '';
  const diff = row.value - row.baseline;
  const sign = diff > 0 ? '+' : '';
  const ratio = row.baseline === 0 ? '' : ` (${formatNumber((row.value / row.baseline) * 100)}%)`;
  return `${sign}${withUnit(diff, row.unit)}${ratio}`;
}

export interface TableOptions {
  /** The first line, saying what ran and how. */
  title: string;
  /** Column headings: what the baseline and the value are (`direct`, `via 2 ztunnels`). */
  baseline?: string;
  value?: string;
}

/**
 * The terminal table: figure, baseline, value, the value against the baseline (difference and
 * ratio), and the goal with its verdict; the baseline columns only when some row has a
 * baseline, the goal column only when some row has a goal. Then one line per problem.
 */
export function renderBenchTable(result: Pick<BenchResult, 'rows' | 'problems'>, opts: TableOptions): string {
  const baselineName = opts.baseline ?? 'baseline';
  const withBaseline = result.rows.some((r) => r.baseline !== undefined);
  const withGoal = result.rows.some((r) => r.goal !== undefined);
  const cell = (v: number | null | undefined, unit: string): string => (v === undefined ? '-' : v === null ? 'not measured' : withUnit(v, unit));
  const header = ['', ...(withBaseline ? [baselineName] : []), opts.value ?? 'value', ...(withBaseline ? [`vs ${baselineName}`] : [])];
  const lines = result.rows.map((r) => [
    r.figure,
    ...(withBaseline ? [cell(r.baseline, r.unit)] : []),
    cell(r.value, r.unit),
    ...(withBaseline ? [versus(r)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  // The figure left-aligned, the numbers right-aligned, the goal left-aligned after a gap.
  const layout = (cells: string[], goal: string): string =>
    `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]!) : `  ${c.padStart(widths[i]!)}`)).join('')}${withGoal ? `  ${goal}` : ''}`.trimEnd();
  return [
    opts.title,
    result.rows.length ? layout(header, 'goal') : '  nothing measured',
    ...lines.map((l, i) => layout(l, goalCell(result.rows[i]!, baselineName))),
    ...result.problems.map((p) => `  problem: ${p}`),
  ].join('\n');
}

// ---- reading a document back --------------------------------------------------------------

/**
 * A BenchResult from untrusted JSON (a `--json` file): every field checked, the first bad one
 * named by its path and value, and each verdict checked against its goal, so a truncated or
 * hand-edited file fails clearly instead of reading as met.
 */
export function parseBenchResult(value: unknown): BenchResult {
  const doc = obj(value, 'result');
  const str = (o: Record<string, unknown>, k: string, path: string): string => {
    if (typeof o[k] !== 'string' || o[k] === '') throw bad(`${path}.${k}`, o[k], 'a non-empty string');
    return o[k];
  };
  const flags = obj(doc.flags, 'result.flags');
  for (const [k, v] of Object.entries(flags)) {
    if (!['number', 'string', 'boolean'].includes(typeof v) || (typeof v === 'number' && !Number.isFinite(v)))
      throw bad(`result.flags.${k}`, v, 'a finite number, a string or a boolean');
  }
  if (doc.commit !== null && (typeof doc.commit !== 'string' || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(doc.commit)))
    throw bad('result.commit', doc.commit, 'a git commit id or null');
  if (typeof doc.finishedAt !== 'string' || Number.isNaN(Date.parse(doc.finishedAt))) throw bad('result.finishedAt', doc.finishedAt, 'an ISO 8601 time');
  const figures = new Set<string>();
  const rows = arr(doc.rows, 'result.rows').map((rv, i): BenchRow => {
    const path = `result.rows[${i}]`;
    const r = obj(rv, path);
    const figure = str(r, 'figure', path);
    if (figures.has(figure)) throw bad(`${path}.figure`, figure, 'unique in the document');
    figures.add(figure);
    if (typeof r.unit !== 'string') throw bad(`${path}.unit`, r.unit, 'a string');
    const row: BenchRow = { figure, unit: r.unit, value: numOrNull(r.value, `${path}.value`) };
    if ('baseline' in r) row.baseline = numOrNull(r.baseline, `${path}.baseline`);
    if (r.goal !== undefined) {
      const g = obj(r.goal, `${path}.goal`);
      if (!GOAL_OPS.includes(g.op as GoalOp)) throw bad(`${path}.goal.op`, g.op, `one of ${GOAL_OPS.join(', ')}`);
      if (typeof g.limit !== 'number' || !Number.isFinite(g.limit)) throw bad(`${path}.goal.limit`, g.limit, 'a finite number');
      row.goal = { op: g.op as GoalOp, limit: g.limit };
      if (g.on !== undefined) {
        if (!GOAL_ON.includes(g.on as GoalOn)) throw bad(`${path}.goal.on`, g.on, `absent or one of ${GOAL_ON.join(', ')}`);
        if (!('baseline' in r)) throw bad(`${path}.baseline`, undefined, `present for a goal on '${g.on}'`);
        row.goal.on = g.on as GoalOn;
      }
      const expected = judgeGoal(row)!;
      if (r.verdict !== expected) throw bad(`${path}.verdict`, r.verdict, `'${expected}' (${goalText(row.goal, row.unit)}, value ${row.value})`);
      row.verdict = expected;
    } else if (r.verdict !== undefined) throw bad(`${path}.verdict`, r.verdict, 'absent on a row without a goal');
    return row;
  });
  return {
    benchmark: str(doc, 'benchmark', 'result'),
    finishedAt: doc.finishedAt,
    node: str(doc, 'node', 'result'),
    commit: doc.commit,
    flags: flags as BenchResult['flags'],
    rows,
    problems: arr(doc.problems, 'result.problems').map((p, i) => {
      if (typeof p !== 'string') throw bad(`result.problems[${i}]`, p, 'a string');
      return p;
    }),
  };
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, v, 'an object');
  return v as Record<string, unknown>;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw bad(path, v, 'an array');
  return v;
}

function numOrNull(v: unknown, path: string): number | null {
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(path, v, 'a finite number or null');
  return v;
}

function bad(path: string, value: unknown, expected: string): Error {
  const shown = value === undefined ? 'missing' : JSON.stringify(value)?.slice(0, 80);
  return new Error(`bench result: ${path} must be ${expected}, got ${shown}`);
}
