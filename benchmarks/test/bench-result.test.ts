// A benchmark's result document: goals judged on the value, on what it adds over the same run's
// baseline, or on its ratio to it; the terminal table with the goal and verdict beside each
// figure; and the checks on a document read back.
import assert from 'node:assert/strict';
import { type BenchResult, benchRow, goalCell, judgeGoal, parseBenchResult, renderBenchTable } from '../src/bench-result.ts';
import { benchFlags } from '../src/number-flags.ts';

function sampleResult(): BenchResult {
  return {
    benchmark: 'ztunnel',
    finishedAt: '2026-12-04T10:00:00.000Z',
    node: 'v24.21.0',
    commit: '0642ce5a1b2c3d4e5f60718293a4b5c6d7e8f901',
    flags: { rps: 1000, seconds: 10, mib: 512 },
    rows: [
      benchRow('latency p90', 'ms', 0.65, { baseline: 0.36, goal: { op: '<=', limit: 0.25, on: 'added' } }),
      benchRow('single-stream bulk (512 MiB)', 'MiB/s', 265, { baseline: 941, goal: { op: '>=', limit: 0.45, on: 'ratio' } }),
      benchRow('RSS idle, ztunnel node-1', 'MiB', 52.4, { goal: { op: '<=', limit: 55 } }),
      benchRow('CPU s per 1000 requests, both ztunnels', 'CPU-s', 0.304),
    ],
    problems: [],
  };
}

describe('bench result: goals', () => {
  it('judges a limit on the value, on the value added over the baseline, and on the ratio to the baseline', () => {
    assert.deepEqual(
      sampleResult().rows.map((r) => r.verdict),
      ['missed', 'missed', 'met', undefined],
    );
    assert.equal(judgeGoal({ value: 0.55, baseline: 0.36, goal: { op: '<=', limit: 0.25, on: 'added' } }), 'met');
    assert.equal(judgeGoal({ value: 500, baseline: 941, goal: { op: '>=', limit: 0.45, on: 'ratio' } }), 'met');
  });

  it('meets a goal exactly at its limit', () => {
    assert.equal(judgeGoal({ value: 55, goal: { op: '<=', limit: 55 } }), 'met');
    assert.equal(judgeGoal({ value: 1500, goal: { op: '>=', limit: 1500 } }), 'met');
  });

  it('is "not measured", never a guess, without the value, or without the baseline a goal on it needs', () => {
    assert.equal(judgeGoal({ value: null, goal: { op: '<=', limit: 55 } }), 'not measured');
    assert.equal(judgeGoal({ value: 0.5, baseline: null, goal: { op: '<=', limit: 0.25, on: 'added' } }), 'not measured');
    assert.equal(judgeGoal({ value: 0.5, goal: { op: '<=', limit: 0.25, on: 'added' } }), 'not measured');
    assert.equal(judgeGoal({ value: 265, baseline: 0, goal: { op: '>=', limit: 0.45, on: 'ratio' } }), 'not measured');
  });

  it('takes a figure that is not a finite number (no samples: NaN) for not measured', () => {
    const row = benchRow('latency p99', 'ms', Number.NaN, { baseline: Number.POSITIVE_INFINITY, goal: { op: '<=', limit: 0.6, on: 'added' } });
    assert.deepEqual(row, {
      figure: 'latency p99',
      unit: 'ms',
      value: null,
      baseline: null,
      goal: { op: '<=', limit: 0.6, on: 'added' },
      verdict: 'not measured',
    });
  });
});

describe('bench result: the terminal table', () => {
  const text = renderBenchTable(
    { ...sampleResult(), problems: ['mesh: 3 errors'] },
    { title: 'ztunnel data plane vs direct', baseline: 'direct', value: 'via 2 ztunnels' },
  );
  const line = (figure: string): string => text.split('\n').find((l) => l.trimStart().startsWith(figure))!;

  it('prints the goal and its verdict beside each figure that has one', () => {
    assert.match(line('latency p90'), /0\.36 ms\s+0\.65 ms\s+\+0\.29 ms \(181%\)\s+≤ \+0\.25 ms over direct: MISSED$/);
    assert.match(line('single-stream bulk'), /941 MiB\/s\s+265 MiB\/s\s+-676 MiB\/s \(28\.2%\)\s+≥ 45% of direct: MISSED$/);
    assert.match(line('RSS idle, ztunnel node-1'), /-\s+52\.4 MiB\s+≤ 55 MiB: MET$/);
    assert.match(line('CPU s per 1000 requests, both ztunnels'), /-\s+0\.304 CPU-s$/);
  });

  it('heads the columns with the baseline’s name and ends with the problems', () => {
    const lines = text.split('\n');
    assert.equal(lines[0], 'ztunnel data plane vs direct');
    assert.match(lines[1]!, /^\s+direct\s+via 2 ztunnels\s+vs direct\s+goal$/);
    assert.equal(lines.at(-1), '  problem: mesh: 3 errors');
  });

  it('has no baseline columns when no figure has a baseline, and says which figure was not measured', () => {
    const t = renderBenchTable(
      {
        rows: [
          benchRow('certificates signed', 'certs/s', 319, { goal: { op: '>=', limit: 1500 } }),
          benchRow('initial sync', 's', null, { goal: { op: '<=', limit: 6 } }),
        ],
        problems: [],
      },
      { title: 'istiod' },
    );
    const [, header, certs, sync] = t.split('\n');
    assert.match(header!, /^\s+value\s+goal$/);
    assert.match(certs!, /certificates signed\s+319 certs\/s\s+≥ 1500 certs\/s: MISSED$/);
    assert.match(sync!, /initial sync\s+not measured\s+≤ 6 s: not measured$/);
  });

  it('says when nothing was measured, and why', () => {
    assert.equal(
      renderBenchTable({ rows: [], problems: ['the cluster did not start'] }, { title: 'T' }),
      'T\n  nothing measured\n  problem: the cluster did not start',
    );
  });

  it('gives another table the same goal cell (the waypoint’s: L7 over L4)', () => {
    const row = benchRow('latency p90, L7', 'ms', 4.9, { baseline: 1.98, goal: { op: '<=', limit: 1, on: 'added' } });
    assert.equal(goalCell(row, 'L4'), '≤ +1 ms over L4: MISSED');
    assert.equal(goalCell(benchRow('requests/s', 'req/s', 500)), '');
  });
});

describe('bench result: reading a document back', () => {
  const parse = (edit: (doc: Record<string, any>) => void): BenchResult => {
    const doc = JSON.parse(JSON.stringify(sampleResult()));
    edit(doc);
    return parseBenchResult(doc);
  };

  it('reads back what a run wrote', () => {
    assert.deepEqual(parseBenchResult(JSON.parse(JSON.stringify(sampleResult()))), sampleResult());
    assert.equal(parse((d) => (d.commit = null)).commit, null);
  });

  it('names the bad field and its value', () => {
    assert.throws(
      () => parse((d) => (d.rows[2].value = '52 MiB')),
      /^Error: bench result: result\.rows\[2\]\.value must be a finite number or null, got "52 MiB"$/,
    );
    assert.throws(() => parse((d) => delete d.rows[0].unit), /result\.rows\[0\]\.unit must be a string, got missing/);
    assert.throws(() => parse((d) => (d.rows[1].goal.op = '<')), /result\.rows\[1\]\.goal\.op must be one of <=, >=, got "<"/);
    assert.throws(() => parse((d) => (d.rows[1].goal.on = 'sum')), /result\.rows\[1\]\.goal\.on must be absent or one of added, ratio, got "sum"/);
    assert.throws(() => parse((d) => delete d.problems), /result\.problems must be an array, got missing/);
    assert.throws(() => parse((d) => (d.flags.rps = { n: 1 })), /result\.flags\.rps must be a finite number, a string or a boolean/);
    assert.throws(() => parse((d) => (d.commit = 'HEAD')), /result\.commit must be a git commit id or null, got "HEAD"/);
    assert.throws(() => parse((d) => (d.finishedAt = 'today')), /result\.finishedAt must be an ISO 8601 time, got "today"/);
    assert.throws(() => parse((d) => (d.benchmark = '')), /result\.benchmark must be a non-empty string, got ""/);
  });

  it('refuses a verdict its goal and value do not give, and a verdict without a goal', () => {
    assert.throws(() => parse((d) => (d.rows[2].value = 80)), /result\.rows\[2\]\.verdict must be 'missed' \(≤ 55 MiB, value 80\), got "met"/);
    assert.throws(() => parse((d) => delete d.rows[2].verdict), /result\.rows\[2\]\.verdict must be 'met'/);
    assert.throws(() => parse((d) => (d.rows[3].verdict = 'met')), /result\.rows\[3\]\.verdict must be absent on a row without a goal/);
  });

  it('refuses a goal on the baseline in a row without one, and a figure named twice', () => {
    assert.throws(() => parse((d) => delete d.rows[0].baseline), /result\.rows\[0\]\.baseline must be present for a goal on 'added', got missing/);
    assert.throws(() => parse((d) => (d.rows[3].figure = 'latency p90')), /result\.rows\[3\]\.figure must be unique in the document, got "latency p90"/);
  });
});

describe('bench flags', () => {
  it('takes --json FILE beside the numeric flags, and - for stdout', () => {
    assert.deepEqual(benchFlags({ rps: 1000, mib: 512 }, ['--rps', '100', '--json', '/tmp/z.json']), { flags: { rps: 100, mib: 512 }, json: '/tmp/z.json' });
    assert.deepEqual(benchFlags({ rps: 1000 }, ['--json=-']), { flags: { rps: 1000 }, json: '-' });
    assert.deepEqual(benchFlags({ rps: 1000 }, []), { flags: { rps: 1000 }, json: undefined });
    assert.throws(() => benchFlags({ rps: 1000 }, ['--json', '']), /--json needs a file name/);
  });
});
