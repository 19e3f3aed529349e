// A short run of the waypoint benchmark (root, real namespaces): the four modes each report
// their rate, latency, and the CPU and memory of every proxy on the path; the run exits 0 only
// when no request failed and every L7 response (and no other) came through the waypoint's route.
// The result document holds the same figures, the waypoint's goals judged on them.
import assert from 'node:assert/strict';
import { measured, runBench } from './bench-run.ts';

describe('waypoint data-plane benchmark (smoke)', function () {
  this.timeout(300_000);
  it('measures direct, L4, L7 and L7 with the resilience layers, and prints every figure', async () => {
    const { stdout, result } = await runBench('waypoint-dataplane.ts', ['--rps', '50', '--seconds', '1'], 290_000);
    assert.match(stdout, /requests\/s achieved \(errors\)\s+\d+ \(0\)\s+\d+ \(0\)\s+\d+ \(0\)\s+\d+ \(0\)/);
    for (const p of ['p50', 'p90', 'p99']) assert.match(stdout, new RegExp(`latency ${p}\\s+[\\d.]+ ms\\s+[\\d.]+ ms\\s+[\\d.]+ ms\\s+[\\d.]+ ms`));
    const triple = String.raw`-?[\d.]+ \/ -?[\d.]+ \/ -?[\d.]+ ms`;
    assert.match(stdout, new RegExp(String.raw`added p50 \/ p90 \/ p99 over L4\s+-\s+-\s+${triple}\s+${triple}\s+p90 ≤ \+1 ms over L4: (MET|MISSED)`));
    assert.match(stdout, new RegExp(String.raw`added p50 \/ p90 \/ p99 over plain L7\s+-\s+-\s+-\s+${triple}`));
    for (const node of ['node-1', 'node-2'])
      assert.match(stdout, new RegExp(`CPU s per 1000 requests: ztunnel ${node}\\s+-\\s+[\\d.]+ s\\s+[\\d.]+ s\\s+[\\d.]+ s`));
    assert.match(stdout, /CPU s per 1000 requests: waypoint\s+-\s+-\s+[\d.]+ s\s+[\d.]+ s\s+≤ 0.25 CPU-s: (MET|MISSED)/);
    assert.match(stdout, /the same proxies idle \(3 s before\), cores\s+-\s+[\d.]+\s+[\d.]+\s+[\d.]+/);
    assert.match(stdout, /other work on the host \(steal\), cores(\s+[\d.]+ \([\d.]+\)){4}/);
    assert.match(stdout, /memory RSS \/ PSS: waypoint\s+-\s+-\s+\d+ \/ \d+ MiB\s+\d+ \/ \d+ MiB\s+RSS ≤ 80 MiB: (MET|MISSED)/);

    assert.deepEqual(result.problems, []);
    assert.equal(result.benchmark, 'waypoint');
    for (const mode of ['L4', 'L7', 'L7 + resilience']) {
      assert.equal(measured(result, `requests failed, ${mode}`, { baseline: true }).value, 0);
      for (const p of ['p50', 'p90', 'p99']) measured(result, `latency ${p}, ${mode}`, { baseline: true });
    }
    assert.deepEqual(measured(result, 'latency p90, L7 against L4', { baseline: true }).goal, { op: '<=', limit: 1, on: 'added' });
    assert.deepEqual(measured(result, 'CPU s per 1000 requests, waypoint, L7').goal, { op: '<=', limit: 0.25 });
    assert.deepEqual(measured(result, 'RSS, waypoint, L7').goal, { op: '<=', limit: 80 });
    measured(result, 'CPU s per 1000 requests, ztunnel node-1, L4');
    measured(result, 'PSS, waypoint, L7 + resilience');
  });
});
