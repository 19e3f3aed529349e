// What one run of the memory-savings benchmark (`npm run bench -- savings`) measured, and the
// pure arithmetic over it: totals per point, ratios ambient/sidecar per pod count, and the
// issue's targets evaluated as met, missed or not measured. The harness that drives the cluster
// fills a SavingsRun; the report (report.ts) only reads one. Nothing here does I/O, so a saved
// run (savings-<timestamp>.json) gives the same figures when it is rendered again.

export const SAVINGS_MODES = ['sidecar', 'ambient-l4', 'ambient-waypoint'] as const;
/** sidecar: one proxy per application pod; ambient-l4: one ztunnel per node; ambient-waypoint:
 *  the ztunnels plus one waypoint per namespace. */
export type SavingsMode = (typeof SAVINGS_MODES)[number];
/** The application pod counts of the issue. */
export const SAVINGS_PODS = [24, 48, 96, 144] as const;
export const PROXY_KINDS = ['sidecar', 'ztunnel', 'waypoint'] as const;
export type ProxyKind = (typeof PROXY_KINDS)[number];

/** One proxy process, read from /proc right after the load phase (see proc-sample.ts). */
export interface ProxySample {
  kind: ProxyKind;
  /** The pod (and node, for a ztunnel) it serves, e.g. `ztunnel node-1`, `sidecar bench/app-7`. */
  name: string;
  pid: number;
  /** Resident set size: every page the process has in memory, shared ones counted in full. */
  rssBytes: number;
  /** Proportional set size: a page shared by k processes counts 1/k to each. */
  pssBytes: number;
  /** utime + stime of this process (all its threads, not its children) over the load phase. */
  cpuSeconds: number;
}

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
}

/** One mode at one pod count. */
export interface SavingsPoint {
  mode: SavingsMode;
  pods: number;
  proxies: ProxySample[];
  /** Of the same traffic in every mode, from the request's send (as soon as it is due; waiting for a free connection counts) to its response's end. */
  latencyMs: LatencyMs;
  /** failures counts the failed requests by cause: 'status 503', 'ECONNRESET', 'timeout'... */
  requests: { sent: number; ok: number; failed: number; failures?: Record<string, number> };
  /** The load phase's length, over which cpuSeconds was counted. */
  durationSeconds: number;
}

export interface SavingsMachine {
  cpus: number;
  cpuModel: string;
  memTotalBytes: number;
  kernel: string;
  os: string;
}

export interface SavingsRun {
  /** True when some planned point was not measured (a failure, an interrupt, a time limit). */
  partial: boolean;
  partialReason?: string;
  /** The point that failed, when one did; the run stops there. */
  failed?: { mode: SavingsMode; pods: number; reason: string };
  /** What the run set out to measure: a missing point is reported as "not measured". */
  plan: { modes: SavingsMode[]; pods: number[] };
  machine: SavingsMachine;
  /** Node, the kernel, the mesh's commit, ... as `name → version`. */
  versions: Record<string, string>;
  /** The exact commands that produced this run, to reproduce it. */
  commands: string[];
  /** The same load in every mode: open-loop `rpsPerPod` per application pod. */
  load: { rpsPerPod: number; bodyBytes: number; seconds: number };
  /** ISO 8601. */
  startedAt: string;
  finishedAt: string;
  points: SavingsPoint[];
}

export interface PointTotals {
  proxies: number;
  /** Proxies of each kind that the point had. */
  byKind: Record<ProxyKind, number>;
  pssBytes: number;
  rssBytes: number;
  cpuSeconds: number;
}

/** The sum over a point's proxies. */
export function pointTotals(point: SavingsPoint): PointTotals {
  const t: PointTotals = { proxies: point.proxies.length, byKind: { sidecar: 0, ztunnel: 0, waypoint: 0 }, pssBytes: 0, rssBytes: 0, cpuSeconds: 0 };
  for (const p of point.proxies) {
    t.byKind[p.kind]++;
    t.pssBytes += p.pssBytes;
    t.rssBytes += p.rssBytes;
    t.cpuSeconds += p.cpuSeconds;
  }
  return t;
}

/** The point of a mode at a pod count, if the run measured it (the last one wins on a repeat). */
export function findPoint(run: SavingsRun, mode: SavingsMode, pods: number): SavingsPoint | undefined {
  return run.points.findLast((p) => p.mode === mode && p.pods === pods);
}

/** Every pod count of the plan and of the points, ascending. */
export function podCounts(run: SavingsRun): number[] {
  return [...new Set([...run.plan.pods, ...run.points.map((p) => p.pods)])].sort((a, b) => a - b);
}

export type AmbientMode = Exclude<SavingsMode, 'sidecar'>;
export type RatioMetric = 'pss' | 'rss' | 'cpu';

/** A ratio, or why there is none: a ratio is never guessed from a missing point. */
export type Ratio = { value: number } | { value: null; notMeasured: string };

export interface RatioRow {
  pods: number;
  mode: AmbientMode;
  pss: Ratio;
  rss: Ratio;
  cpu: Ratio;
}

const metricOf: Record<RatioMetric, (t: PointTotals) => number> = { pss: (t) => t.pssBytes, rss: (t) => t.rssBytes, cpu: (t) => t.cpuSeconds };

function ratio(run: SavingsRun, mode: AmbientMode, pods: number, metric: RatioMetric): Ratio {
  const ambient = findPoint(run, mode, pods);
  const sidecar = findPoint(run, 'sidecar', pods);
  if (!ambient || !sidecar) {
    const missing = [!sidecar && 'sidecar', !ambient && mode].filter(Boolean).join(' and ');
    return { value: null, notMeasured: `no ${missing} point at ${pods} pods` };
  }
  const denominator = metricOf[metric](pointTotals(sidecar));
  if (!(denominator > 0)) return { value: null, notMeasured: `the sidecar ${metric} total at ${pods} pods is ${denominator}` };
  return { value: metricOf[metric](pointTotals(ambient)) / denominator };
}

/** ambient-l4/sidecar and ambient-waypoint/sidecar for PSS, RSS and CPU, per pod count. */
export function savingsRatios(run: SavingsRun): RatioRow[] {
  return podCounts(run).flatMap((pods) =>
    (['ambient-l4', 'ambient-waypoint'] as const).map((mode) => ({
      pods,
      mode,
      pss: ratio(run, mode, pods, 'pss'),
      rss: ratio(run, mode, pods, 'rss'),
      cpu: ratio(run, mode, pods, 'cpu'),
    })),
  );
}

export interface SavingsTarget {
  name: string;
  mode: AmbientMode;
  metric: RatioMetric;
  pods: number;
  /** The ratio ambient/sidecar must be at most this. */
  max: number;
}

/** The targets. Memory is judged on PSS (the pages a proxy really costs the node, shared
 *  ones split among their sharers); the RSS ratio is printed beside it. The CPU target names no
 *  pod count; it is judged at the same 144 pods as memory, the other counts shown beside. */
export const SAVINGS_TARGETS: readonly SavingsTarget[] = [
  { name: 'ambient L4 proxy memory (PSS) ≤ 3% of sidecar at 144 pods', mode: 'ambient-l4', metric: 'pss', pods: 144, max: 0.03 },
  { name: 'ambient L4 + waypoints proxy memory (PSS) ≤ 12% of sidecar at 144 pods', mode: 'ambient-waypoint', metric: 'pss', pods: 144, max: 0.12 },
  { name: 'ambient L4 proxy CPU ≤ 30% of sidecar at 144 pods', mode: 'ambient-l4', metric: 'cpu', pods: 144, max: 0.3 },
];

export type TargetStatus = 'met' | 'missed' | 'not measured';

export interface TargetResult {
  target: SavingsTarget;
  status: TargetStatus;
  ratio: Ratio;
}

export function evaluateTargets(run: SavingsRun, targets: readonly SavingsTarget[] = SAVINGS_TARGETS): TargetResult[] {
  return targets.map((target) => {
    const r = ratio(run, target.mode, target.pods, target.metric);
    const status: TargetStatus = r.value === null ? 'not measured' : r.value <= target.max ? 'met' : 'missed';
    return { target, status, ratio: r };
  });
}

/** The planned points the run has no figures for, in plan order (mode-major). */
export function missingPoints(run: SavingsRun): { mode: SavingsMode; pods: number }[] {
  return run.plan.modes.flatMap((mode) => run.plan.pods.filter((pods) => !findPoint(run, mode, pods)).map((pods) => ({ mode, pods })));
}

/**
 * A SavingsRun from untrusted JSON (a saved savings-<timestamp>.json): every field checked, the
 * first bad one named by its path and value, so a hand-edited or truncated file fails clearly
 * instead of rendering NaN.
 */
export function parseSavingsRun(value: unknown): SavingsRun {
  const run = obj(value, 'run');
  const str = (o: Record<string, unknown>, k: string, path: string): string => {
    if (typeof o[k] !== 'string') throw bad(`${path}.${k}`, o[k], 'a string');
    return o[k];
  };
  const num = (o: Record<string, unknown>, k: string, path: string): number => {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || o[k] < 0) throw bad(`${path}.${k}`, o[k], 'a non-negative number');
    return o[k];
  };
  const mode = (v: unknown, path: string): SavingsMode => {
    if (!SAVINGS_MODES.includes(v as SavingsMode)) throw bad(path, v, `one of ${SAVINGS_MODES.join(', ')}`);
    return v as SavingsMode;
  };
  const counts = (v: unknown, path: string): Record<string, number> => {
    const o = obj(v, path);
    return Object.fromEntries(Object.keys(o).map((k) => [k, num(o, k, path)]));
  };
  const arr = (v: unknown, path: string): unknown[] => {
    if (!Array.isArray(v)) throw bad(path, v, 'an array');
    return v;
  };
  if (typeof run.partial !== 'boolean') throw bad('run.partial', run.partial, 'a boolean');
  const plan = obj(run.plan, 'run.plan');
  const machine = obj(run.machine, 'run.machine');
  const load = obj(run.load, 'run.load');
  const versions = obj(run.versions, 'run.versions');
  for (const [k, v] of Object.entries(versions)) if (typeof v !== 'string') throw bad(`run.versions.${k}`, v, 'a string');
  const out: SavingsRun = {
    partial: run.partial,
    plan: {
      modes: arr(plan.modes, 'run.plan.modes').map((m, i) => mode(m, `run.plan.modes[${i}]`)),
      pods: arr(plan.pods, 'run.plan.pods').map((p, i) => {
        if (!Number.isInteger(p) || (p as number) <= 0) throw bad(`run.plan.pods[${i}]`, p, 'a positive integer');
        return p as number;
      }),
    },
    machine: {
      cpus: num(machine, 'cpus', 'run.machine'),
      cpuModel: str(machine, 'cpuModel', 'run.machine'),
      memTotalBytes: num(machine, 'memTotalBytes', 'run.machine'),
      kernel: str(machine, 'kernel', 'run.machine'),
      os: str(machine, 'os', 'run.machine'),
    },
    versions: versions as Record<string, string>,
    commands: arr(run.commands, 'run.commands').map((c, i) => {
      if (typeof c !== 'string') throw bad(`run.commands[${i}]`, c, 'a string');
      return c;
    }),
    load: { rpsPerPod: num(load, 'rpsPerPod', 'run.load'), bodyBytes: num(load, 'bodyBytes', 'run.load'), seconds: num(load, 'seconds', 'run.load') },
    startedAt: isoTime(run.startedAt, 'run.startedAt'),
    finishedAt: isoTime(run.finishedAt, 'run.finishedAt'),
    points: arr(run.points, 'run.points').map((pv, i) => {
      const path = `run.points[${i}]`;
      const p = obj(pv, path);
      const latency = obj(p.latencyMs, `${path}.latencyMs`);
      const requests = obj(p.requests, `${path}.requests`);
      if (!Number.isInteger(p.pods) || (p.pods as number) <= 0) throw bad(`${path}.pods`, p.pods, 'a positive integer');
      return {
        mode: mode(p.mode, `${path}.mode`),
        pods: p.pods as number,
        proxies: arr(p.proxies, `${path}.proxies`).map((xv, j) => {
          const xpath = `${path}.proxies[${j}]`;
          const x = obj(xv, xpath);
          if (!PROXY_KINDS.includes(x.kind as ProxyKind)) throw bad(`${xpath}.kind`, x.kind, `one of ${PROXY_KINDS.join(', ')}`);
          return {
            kind: x.kind as ProxyKind,
            name: str(x, 'name', xpath),
            pid: num(x, 'pid', xpath),
            rssBytes: num(x, 'rssBytes', xpath),
            pssBytes: num(x, 'pssBytes', xpath),
            cpuSeconds: num(x, 'cpuSeconds', xpath),
          };
        }),
        latencyMs: {
          p50: num(latency, 'p50', `${path}.latencyMs`),
          p90: num(latency, 'p90', `${path}.latencyMs`),
          p99: num(latency, 'p99', `${path}.latencyMs`),
        },
        requests: {
          sent: num(requests, 'sent', `${path}.requests`),
          ok: num(requests, 'ok', `${path}.requests`),
          failed: num(requests, 'failed', `${path}.requests`),
          ...(requests.failures === undefined ? {} : { failures: counts(requests.failures, `${path}.requests.failures`) }),
        },
        durationSeconds: num(p, 'durationSeconds', path),
      };
    }),
  };
  if (run.partialReason !== undefined) out.partialReason = str(run, 'partialReason', 'run');
  if (run.failed !== undefined) {
    const f = obj(run.failed, 'run.failed');
    out.failed = { mode: mode(f.mode, 'run.failed.mode'), pods: num(f, 'pods', 'run.failed'), reason: str(f, 'reason', 'run.failed') };
  }
  return out;
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, v, 'an object');
  return v as Record<string, unknown>;
}

function isoTime(v: unknown, path: string): string {
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw bad(path, v, 'an ISO 8601 time');
  return v;
}

function bad(path: string, value: unknown, expected: string): Error {
  const shown = value === undefined ? 'missing' : JSON.stringify(value)?.slice(0, 80);
  return new Error(`savings run: ${path} must be ${expected}, got ${shown}`);
}
