// The savings benchmark's smoke run (N=4): the whole harness on the local cluster — sidecar
// injection, ambient capture, a waypoint per namespace, the load, /proc sampling — and the
// report it writes. It checks that the run measured what it says, not how fast anything was.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SavingsRun } from '@ambient/benchmarks/savings';

const repo = resolve(import.meta.dirname, '../..');

describe('npm run bench -- savings, smoke run with 4 pods', function () {
  this.timeout(600_000);
  let out: string;
  before(() => {
    out = mkdtempSync(join(tmpdir(), 'savings-smoke-'));
  });
  after(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('measures the three modes under the same load and writes the report with its charts', async () => {
    const child = spawn(process.execPath, [join(repo, 'benchmarks/src/savings.ts'), '--pods', '4', '--seconds', '3', '--out', out, '--max-minutes', '8'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, output.slice(-4000));

    const json = output.split('\n').find((l) => l.endsWith('.json') && l.includes('savings-'));
    assert.ok(json && existsSync(json), `the raw run is written:\n${output.slice(-2000)}`);
    const run = JSON.parse(readFileSync(json, 'utf8')) as SavingsRun;
    assert.equal(run.partial, false, run.partialReason);
    assert.deepEqual(
      run.points.map((p) => p.mode),
      ['sidecar', 'ambient-l4', 'ambient-waypoint'],
    );
    const kinds = (mode: string) => run.points.find((p) => p.mode === mode)!.proxies.map((p) => p.kind);
    // 4 apps and 3 load pods, each with its proxy; 3 ztunnels; plus the one namespace's waypoint.
    assert.deepEqual(kinds('sidecar'), Array(7).fill('sidecar'));
    assert.deepEqual(kinds('ambient-l4'), ['ztunnel', 'ztunnel', 'ztunnel']);
    assert.deepEqual([...kinds('ambient-waypoint')].sort(), ['waypoint', 'ztunnel', 'ztunnel', 'ztunnel']);
    for (const p of run.points) {
      assert.equal(p.requests.failed, 0, `${p.mode}: every request answered (failures: ${JSON.stringify(p.requests.failures)})`);
      assert.equal(p.requests.sent, p.requests.ok);
      assert.ok(p.requests.sent >= 4 * run.load.rpsPerPod * run.load.seconds, `${p.mode}: the whole load was sent`);
      for (const proxy of p.proxies) assert.ok(proxy.pssBytes > 0 && proxy.rssBytes >= proxy.pssBytes, `${p.mode} ${proxy.name}: memory read from /proc`);
    }
    for (const ext of ['md', 'html']) assert.ok(existsSync(json.replace(/\.json$/, `.${ext}`)), `the ${ext} report`);
    for (const chart of ['memory', 'cpu', 'latency'])
      for (const ext of ['svg', 'png']) assert.ok(existsSync(json.replace(/\.json$/, `-${chart}.${ext}`)), `the ${chart} chart as ${ext}`);
  });
});
