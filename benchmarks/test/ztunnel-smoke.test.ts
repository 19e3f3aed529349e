// A short run of the data-plane benchmark (root, real namespaces): both paths serve every
// request and carry the whole bulk stream, and the result document holds every figure the
// issue's ztunnel goals need, measured in the same run: each ztunnel's RSS idle and after the
// rate phase, its CPU per 1000 requests, latency and throughput beside the direct path.
import assert from 'node:assert/strict';
import { measured, runBench } from './bench-run.ts';

describe('ztunnel data-plane benchmark (smoke)', function () {
  this.timeout(180_000);
  it('measures direct and through two ztunnels with no error, each figure beside its goal', async () => {
    const { stdout, result } = await runBench('ztunnel-dataplane.ts', ['--rps', '100', '--seconds', '1', '--mib', '16'], 170_000);
    assert.deepEqual(result.problems, []);
    assert.equal(result.benchmark, 'ztunnel');
    assert.deepEqual(result.flags, { rps: 100, seconds: 1, mib: 16 });
    assert.ok(measured(result, 'requests/s achieved', { baseline: true }).value! > 0);
    const failed = measured(result, 'requests failed', { baseline: true });
    assert.deepEqual([failed.baseline, failed.value], [0, 0]);
    measured(result, 'latency p50', { baseline: true });
    assert.deepEqual(measured(result, 'latency p90', { baseline: true }).goal, { op: '<=', limit: 0.25, on: 'added' });
    assert.deepEqual(measured(result, 'latency p99', { baseline: true }).goal, { op: '<=', limit: 0.6, on: 'added' });
    assert.deepEqual(measured(result, 'single-stream bulk (16 MiB)', { baseline: true }).goal, { op: '>=', limit: 0.45, on: 'ratio' });
    for (const node of ['node-1', 'node-2']) {
      assert.deepEqual(measured(result, `RSS idle, ztunnel ${node}`).goal, { op: '<=', limit: 55 });
      assert.deepEqual(measured(result, `RSS after the rate phase, ztunnel ${node}`).goal, { op: '<=', limit: 75 });
      measured(result, `RSS after the bulk stream, ztunnel ${node}`);
      assert.deepEqual(measured(result, `CPU s per 1000 requests, ztunnel ${node}`).goal, { op: '<=', limit: 0.1 });
    }
    measured(result, 'CPU s per 1000 requests, both ztunnels');
    measured(result, 'other work on the host during the rate phase', { baseline: true });
    for (const row of result.rows.filter((r) => r.goal)) assert.notEqual(row.verdict, 'not measured', row.figure);
    assert.match(stdout, /latency p90\s+[\d.]+ ms\s+[\d.]+ ms\s+\S+ ms \([\d.]+%\)\s+≤ \+0\.25 ms over direct: (MET|MISSED)/);
    assert.match(stdout, /single-stream bulk \(16 MiB\)\s+[\d.]+ MiB\/s\s+[\d.]+ MiB\/s\s+\S+ MiB\/s \([\d.]+%\)\s+≥ 45% of direct: (MET|MISSED)/);
    assert.match(stdout, /CPU s per 1000 requests, ztunnel node-2\s+-\s+[\d.]+ CPU-s\s+≤ 0\.1 CPU-s: (MET|MISSED)/);
  });
});
