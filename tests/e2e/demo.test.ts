// Keeps the README's quick start true: the `npm start` walkthrough succeeds end to end, again
// and again in one data directory, after a kill -9 of the cluster process, after SIGINT to
// npm and after a failed step; and no run leaves a process or a network namespace behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { leftoversOf } from '@ambient/tests';

const repo = resolve(import.meta.dirname, '../..');
const demo = join(repo, 'local-cluster/src/demo.ts');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end (or to `ceilingMs`, when it is killed and the test fails). When
 * stdout first contains `when.text`, `when.act(pid)` is called: that is how a test interrupts
 * a run at a chosen step.
 */
function runToEnd(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; ceilingMs?: number; when?: { text: string; act: (pid: number) => void } } = {},
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: repo, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let fired = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (opts.when && !fired && stdout.includes(opts.when.text)) {
        fired = true;
        opts.when.act(child.pid!);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const ceiling = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${command} ${args.join(' ')} still running after ${(opts.ceilingMs ?? 240_000) / 1000} s\n${stdout}\n${stderr}`));
    }, opts.ceilingMs ?? 240_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(ceiling);
      done({ code, signal, stdout, stderr });
    });
  });
}

function assertWalkthrough(r: Run): void {
  const all = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.code, 0, all);
  const hop = /pod→pod \((node-\d) → (node-\d)\)[^\n]*\n\s+200 from pod echo-\S+ on (node-\d)/.exec(r.stdout);
  assert.ok(hop, all);
  assert.notEqual(hop[1], hop[2], 'the pod→pod call crosses nodes');
  assert.equal(hop[3], hop[2]);
  const serviceReplies = r.stdout.split('pod→service')[1]!.match(/200 from pod echo-\S+ on node-\d/g) ?? [];
  assert.equal(serviceReplies.length, 4, all);
  assert.match(r.stdout, /export KUBECONFIG=/);
  assert.match(r.stdout, /now sends them to ztunnel as HBONE workloads/);
  assert.match(r.stdout, /echo-\S+\s+node-\d\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo/);
  assert.match(r.stdout, /through ztunnel over mTLS[^\n]*\n\s+ok: 2 replies/);
  assert.match(
    r.stdout,
    /source_principal="spiffe:\/\/cluster\.local\/ns\/demo\/sa\/sleep",\s+destination_principal="spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo", connection_security_policy="mutual_tls"/,
  );
  assert.match(r.stdout, /the same call is now refused by the destination ztunnel/);
  assert.match(r.stdout, /policy deleted: allowed again/);
  assert.match(r.stdout, /without PeerAuthentication \(PERMISSIVE\): admitted/);
  assert.match(r.stdout, /with STRICT: refused by ztunnel/);
  assert.match(r.stdout, /sleep → echo: ok/);
  // The waypoint step: binomial n = 200, p = 0.1 lands in 20 ± 14 with 99.9% probability.
  const canary = /canary 90\/10 \(HTTPRoute weights\), 200 calls: v1 (\d+), v2 (\d+)/.exec(r.stdout);
  assert.ok(canary, all);
  assert.equal(Number(canary[1]) + Number(canary[2]), 200);
  assert.ok(Number(canary[2]) >= 6 && Number(canary[2]) <= 34, `v2 answered ${canary[2]} of 200`);
  assert.match(r.stdout, /header route \(x-canary: yes\), 20 calls: v1 0, v2 20/);
  assert.match(r.stdout, /50 calls with retry attempts 3: 50 answered 200/);
  assert.match(r.stdout, /GET \/admin\/users → 403 RBAC: access denied; GET \/ still 200/);
  assert.match(r.stdout, /waypoint_requests_denied_total\{policy="demo\/echo-admin"\} [1-9]/);
  // The rate-limit step: 5 per 10 s for one caller, in Redis.
  assert.match(r.stdout, /8 calls from one caller: 5 answered 200, 3 answered 429/);
  assert.match(r.stdout, /istio_requests_total\{response_code="429",response_flags="RL"\} [1-9]/);
}

describe('npm start never poisons itself (one data directory, run after run)', function () {
  this.timeout(300_000);
  let dataDir: string;
  const demoArgs = (): string[] => [demo, '--once', '--data', dataDir, '--port', '0'];
  const assertNothingLeft = (when: string): void => assert.deepEqual(leftoversOf(dataDir), { netns: [], processes: [] }, `left behind ${when}`);

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'demo-e2e-'));
  });

  after(async () => {
    if (!dataDir) return;
    await runToEnd(process.execPath, [join(repo, 'local-cluster/src/main.ts'), 'down', '--data', dataDir]);
    const left = leftoversOf(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    assert.deepEqual(left, { netns: [], processes: [] }, 'left behind after the last down');
  });

  it('runs the walkthrough three times in a row in one data directory, each leaving nothing behind', async () => {
    for (let i = 1; i <= 3; i++) {
      const r = await runToEnd(process.execPath, demoArgs());
      assertWalkthrough(r);
      if (i > 1) assert.match(r.stdout, /reset what an earlier run left: removed the label istio\.io\/dataplane-mode from namespace demo/);
      assertNothingLeft(`by run ${i}`);
    }
  });

  it('passes after a kill -9 of the cluster process mid-run, removing what it left', async () => {
    const killed = await runToEnd(process.execPath, demoArgs(), {
      when: { text: 'an AuthorizationPolicy denying', act: (pid) => process.kill(pid, 'SIGKILL') },
    });
    assert.equal(killed.signal, 'SIGKILL', killed.stdout);
    const left = leftoversOf(dataDir);
    assert.ok(
      left.netns.length > 0 && left.processes.some((p) => p.includes('istiod-lite')),
      `the kill should leave the cluster running: ${JSON.stringify(left)}`,
    );
    const r = await runToEnd(process.execPath, demoArgs());
    assertWalkthrough(r);
    assert.match(r.stdout, /removed what an earlier run left behind: \d+ network namespace\(s\), \d+ process\(es\)/);
    assertNothingLeft('after the run that followed the kill');
  });

  it('tears everything down on SIGINT to npm mid-run, and the next run passes', async () => {
    const interrupted = await runToEnd('npm', ['start', '--', '--once', '--data', dataDir, '--port', '0'], {
      when: { text: 'through ztunnel over mTLS', act: (pid) => process.kill(pid, 'SIGINT') },
    });
    assert.notEqual(interrupted.code, 0, interrupted.stdout);
    assert.match(interrupted.stderr, /demo interrupted by SIGINT during step/);
    assertNothingLeft('by the interrupted run');
    assertWalkthrough(await runToEnd(process.execPath, demoArgs()));
    assertNothingLeft('by the run after the interrupted one');
  });

  it('a failed step exits non-zero naming the step and the logs, restores what it changed, and the next run passes', async () => {
    const failed = await runToEnd(process.execPath, demoArgs(), { env: { ...process.env, AMBIENT_DEMO_FAIL_AT: 'deny' } });
    assert.equal(failed.code, 1, failed.stdout);
    assert.match(failed.stderr, /demo failed at step 'deny' \(an AuthorizationPolicy denying[^)]*\): failing on purpose/);
    assert.match(failed.stderr, /cluster\.log/);
    assert.match(failed.stderr, /istiod-lite\.log/);
    assertNothingLeft('by the failed run');
    const r = await runToEnd(process.execPath, demoArgs());
    assertWalkthrough(r);
    // The failed step deleted its policy on the way out: the next run finds none to undo.
    assert.doesNotMatch(r.stdout, /deleted AuthorizationPolicy demo\/deny-demo/);
    assertNothingLeft('by the run after the failed one');
  });
});
