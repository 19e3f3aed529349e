// A short run of the connection-scale benchmark (root, real namespaces): every connection is up
// through both ztunnels and still open at the end of the hold, directly and in the mesh, and the
// result document holds each ztunnel's memory beside the goals.
import assert from 'node:assert/strict';
import { measured, runBench } from './bench-run.ts';

describe('connection-scale benchmark (smoke)', function () {
  this.timeout(240_000);
  it('holds 200 connections through two ztunnels and reports their memory', async () => {
    const { stdout, result } = await runBench('connections.ts', ['--connections', '200', '--hold', '2', '--settle', '2'], 230_000);
    assert.deepEqual(result.problems, []);
    assert.equal(result.benchmark, 'connections');
    assert.deepEqual(result.flags, { connections: 200, hold: 2, settle: 2 });
    for (const figure of ['connections up', 'connections still open at the end of the hold']) {
      const row = measured(result, figure, { baseline: true });
      assert.deepEqual([row.baseline, row.value], [200, 200], figure);
    }
    measured(result, 'seconds to open them all', { baseline: true });
    measured(result, 'client + server apps, KiB per connection (RSS, both ends)', { baseline: true });
    for (const node of ['node-1', 'node-2']) {
      for (const m of ['RSS', 'PSS'])
        for (const when of ['idle', 'with the connections held', '2 s after they closed']) measured(result, `${m} ${when}, ztunnel ${node}`);
      assert.deepEqual(measured(result, `KiB per connection (RSS), ztunnel ${node}`).goal, { op: '<=', limit: 16 });
      assert.deepEqual(measured(result, `RSS above idle 2 s after they closed, ztunnel ${node}`).goal, { op: '<=', limit: 10 });
    }
    assert.match(stdout, /KiB per connection \(RSS\), ztunnel node-1\s+-\s+-?[\d.]+ KiB\s+≤ 16 KiB: (MET|MISSED)/);
    assert.match(stdout, /RSS above idle 2 s after they closed, ztunnel node-2\s+-\s+-?[\d.]+%\s+≤ 10%: (MET|MISSED)/);
  });
});
