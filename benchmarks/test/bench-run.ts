// The smoke tests' way to run a benchmark: with `--json` into a temporary file, the document read
// back through parseBenchResult, and its figures checked as measured.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BenchResult, type BenchRow, findRow, parseBenchResult } from '../src/bench-result.ts';

/** Runs `benchmarks/src/<script>` with `args` and `--json FILE`; its terminal output and document. */
export async function runBench(script: string, args: string[], timeoutMs: number): Promise<{ stdout: string; result: BenchResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-json-'));
  try {
    const file = join(dir, 'result.json');
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, '../src', script), ...args, '--json', file], {
      timeout: timeoutMs,
      encoding: 'utf8',
    });
    return { stdout, result: parseBenchResult(JSON.parse(readFileSync(file, 'utf8'))) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The row of `figure`, its value a finite number and, when the benchmark has one for it, its baseline too. */
export function measured(result: BenchResult, figure: string, opts: { baseline?: boolean } = {}): BenchRow {
  const row = findRow(result, figure);
  assert.ok(row, `no row '${figure}' in ${result.rows.map((r) => r.figure).join(' | ')}`);
  assert.ok(Number.isFinite(row.value), `${figure}: value ${row.value}`);
  if (opts.baseline) assert.ok(Number.isFinite(row.baseline), `${figure}: baseline ${row.baseline}`);
  else assert.equal(row.baseline, undefined, `${figure} has a baseline`);
  return row;
}
