// A short run of the istiod-lite scale benchmark: every subscriber completes its sync and the
// CA signs, end to end across three processes; the result document holds every figure and the
// issue's goals judged on them.
import assert from 'node:assert/strict';
import { findRow } from '../src/bench-result.ts';
import { measured, runBench } from './bench-run.ts';

const script = 'istiod-scale.ts';

describe('istiod-lite scale benchmark (smoke)', function () {
  this.timeout(120_000);
  it('syncs every subscriber, propagates pod changes and signs certificates at small scale', async () => {
    const { stdout, result } = await runBench(script, ['--pods', '300', '--services', '30', '--subscribers', '4', '--changes', '3', '--certs', '20'], 110_000);
    assert.deepEqual(result.problems, []);
    assert.equal(result.benchmark, 'istiod');
    assert.deepEqual(result.flags, { pods: 300, services: 30, subscribers: 4, changes: 3, certs: 20 });
    const sync = measured(result, 'initial sync: 4 subscribers × 330 resources');
    assert.deepEqual(sync.goal, { op: '<=', limit: 6 });
    assert.equal(measured(result, 'subscribers with every resource').value, 4);
    assert.deepEqual(measured(result, 'istiod-lite RSS after the sync').goal, { op: '<=', limit: 300 });
    measured(result, 'API server RSS after the sync');
    measured(result, 'one pod change → all 4 subscribers (3 changes), p50');
    assert.deepEqual(measured(result, 'one pod change → all 4 subscribers (3 changes), p99').goal, { op: '<=', limit: 100 });
    assert.equal(measured(result, 'changes not delivered to every subscriber in 30 s').value, 0);
    assert.deepEqual(measured(result, 'certificates signed (20, 16 in flight, ECDSA P-256)').goal, { op: '>=', limit: 1500 });
    for (const row of result.rows.filter((r) => r.goal)) assert.notEqual(row.verdict, 'not measured', row.figure);
    assert.match(stdout, /initial sync: 4 subscribers × 330 resources\s+[\d.]+ s\s+≤ 6 s: (MET|MISSED)/);
    assert.match(stdout, /certificates signed \(20, 16 in flight, ECDSA P-256\)\s+\d+ certs\/s\s+≥ 1500 certs\/s: (MET|MISSED)/);
  });

  // istiod-lite serves at most 64 streams per caller: the benchmark's 100 subscribers sharing one
  // ServiceAccount had 36 refused, and the full run waited out every deadline (20 min, no output).
  it('syncs more subscribers than one caller may open streams, each subscriber being its own caller', async () => {
    const { result } = await runBench(script, ['--pods', '20', '--services', '2', '--subscribers', '70', '--changes', '1', '--certs', '1'], 110_000);
    assert.equal(findRow(result, 'subscribers with every resource')?.value, 70);
    assert.deepEqual(result.problems, []);
  });
});
