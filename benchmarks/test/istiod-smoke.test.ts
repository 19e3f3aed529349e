// A short run of the istiod-lite scale benchmark: every subscriber completes its sync and the
// CA signs, end to end across three processes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

describe('istiod-lite scale benchmark (smoke)', function () {
  this.timeout(120_000);
  it('syncs every subscriber, propagates pod changes and signs certificates at small scale', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '../src/istiod-scale.ts'), '--pods', '300', '--services', '30', '--subscribers', '4', '--changes', '3', '--certs', '20'],
      { timeout: 110_000, encoding: 'utf8' },
    );
    assert.match(stdout, /initial sync: 4 subscribers × 330 resources\s+\S+ s \(4\/4 complete\)/);
    assert.match(stdout, /one pod change → all 4 subscribers \(3 changes\) p50 \/ p99\s+\d+ \/ \d+ ms/);
    assert.match(stdout, /certificates signed \(20, 16 in flight, ECDSA P-256\)\s+\d+ certs\/s/);
  });

  // istiod-lite serves at most 64 streams per caller: the benchmark's 100 subscribers sharing one
  // ServiceAccount had 36 refused, and the full run waited out every deadline (20 min, no output).
  it('syncs more subscribers than one caller may open streams, each subscriber being its own caller', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '../src/istiod-scale.ts'), '--pods', '20', '--services', '2', '--subscribers', '70', '--changes', '1', '--certs', '1'],
      { timeout: 110_000, encoding: 'utf8' },
    );
    assert.match(stdout, /initial sync: 70 subscribers × 22 resources\s+\S+ s \(70\/70 complete\)/);
  });
});
