// A short run of the HBONE loopback benchmark: both paths deliver every byte.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

describe('hbone loopback benchmark (smoke)', () => {
  it('pushes a stream directly and through HBONE, every byte confirmed by the sink', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, '../src/hbone-loopback.ts'), '--mib', '16'], {
      timeout: 60_000,
      encoding: 'utf8',
    });
    assert.match(stdout, /direct TCP\s+\d+ MiB\/s/);
    assert.match(stdout, /through HBONE\s+\d+ MiB\/s/);
  });
});
