// A short run of the data-plane benchmark (root, real namespaces): both paths serve every
// request and carry the whole bulk stream.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

describe('ztunnel data-plane benchmark (smoke)', function () {
  this.timeout(180_000);
  it('measures direct and through two ztunnels with no error', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '../src/ztunnel-dataplane.ts'), '--rps', '100', '--seconds', '1', '--mib', '16'],
      { timeout: 170_000, encoding: 'utf8' },
    );
    assert.match(stdout, /requests\/s achieved \(errors\)\s+\d+ \(0\)\s+\d+ \(0\)/);
    assert.match(stdout, /single-stream bulk \(16 MiB\)\s+\d+ MiB\/s\s+\d+ MiB\/s/);
    assert.match(stdout, /ztunnel CPU seconds per 1000 requests/);
  });
});
