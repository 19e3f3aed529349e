// A short run of the connection-scale benchmark (root, real namespaces): every connection is up
// through both ztunnels and still open at the end of the hold, directly and in the mesh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

describe('connection-scale benchmark (smoke)', function () {
  this.timeout(240_000);
  it('holds 200 connections through two ztunnels and reports their memory', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '../src/connections.ts'), '--connections', '200', '--hold', '2', '--settle', '2'],
      {
        timeout: 230_000,
        encoding: 'utf8',
      },
    );
    assert.match(stdout, /connections up \/ still open at the end\s+200 \/ 200/);
    assert.match(stdout, /baseline, same run, directly: 200 \/ 200 connections up \/ open/);
    assert.match(stdout, /KiB per connection \(RSS\)\s+-?\d+\.\d\s+-?\d+\.\d/);
  });
});
