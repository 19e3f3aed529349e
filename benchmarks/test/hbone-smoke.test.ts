// A short run of the HBONE loopback benchmark: both paths deliver every byte, and the result
// document holds both figures; with `--json -` stdout is the document alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseBenchResult } from '../src/bench-result.ts';
import { measured, runBench } from './bench-run.ts';

describe('hbone loopback benchmark (smoke)', () => {
  it('pushes a stream directly and through HBONE, every byte confirmed by the sink', async () => {
    const { stdout, result } = await runBench('hbone-loopback.ts', ['--mib', '16'], 60_000);
    assert.match(stdout, /single stream, 16 MiB into a TCP sink\s+\d+ MiB\/s\s+\d+ MiB\/s\s+-?\d+ MiB\/s \([\d.]+%\)/);
    assert.equal(result.benchmark, 'hbone');
    assert.deepEqual(result.flags, { mib: 16 });
    assert.deepEqual(result.problems, []);
    const row = measured(result, 'single stream, 16 MiB into a TCP sink', { baseline: true });
    assert.ok(row.value! > 0 && row.baseline! > 0);
  });

  it('writes the document alone to stdout with --json -, the table to stderr', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '../src/hbone-loopback.ts'), '--mib', '4', '--json', '-'],
      {
        timeout: 60_000,
        encoding: 'utf8',
      },
    );
    assert.equal(parseBenchResult(JSON.parse(stdout)).rows.length, 1);
    assert.match(stderr, /through HBONE/);
  });
});
