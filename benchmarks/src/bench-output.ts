// Where a benchmark's results go: the human table to the terminal, and with `--json FILE` the
// result document (bench-result.ts) to FILE, or to stdout for `--json -`, the table then going to
// stderr so stdout holds nothing but the document.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { BenchResult, BenchRow } from './bench-result.ts';

/** Prints a line of the human output: to stderr when the document takes stdout. */
export function humanOutput(json: string | undefined): (line: string) => void {
  return json === '-' ? (line) => console.error(line) : (line) => console.log(line);
}

/** The commit the benchmark's sources are at, or null outside a git checkout. */
function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: import.meta.dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** The document of this run: its rows and problems with the run's context. */
export function benchResult(benchmark: string, flags: BenchResult['flags'], rows: BenchRow[], problems: string[]): BenchResult {
  return { benchmark, finishedAt: new Date().toISOString(), node: process.version, commit: gitCommit(), flags, rows, problems };
}

/** Writes the document where `--json` said; nothing without `--json`. */
export function writeBenchResult(result: BenchResult, json: string | undefined): void {
  if (json === undefined) return;
  const text = `${JSON.stringify(result, null, 2)}\n`;
  if (json === '-') process.stdout.write(text);
  else writeFileSync(json, text);
}
