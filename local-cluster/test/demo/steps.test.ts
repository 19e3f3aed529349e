import assert from 'node:assert/strict';
import { DemoFailpointError, DemoStepError, StepRunner } from '../../src/demo/steps.ts';
import { probeUntil, WaitTimeoutError } from '../../src/wait.ts';

describe('demo steps', () => {
  it('names the step a failure happened in', async () => {
    const lines: string[] = [];
    const steps = new StepRunner((l) => lines.push(l), '');
    const err = await steps
      .run('deny', 'a policy', async () => {
        throw new Error('refused');
      })
      .catch((e: unknown) => e);
    assert.ok(err instanceof DemoStepError);
    assert.equal(err.code, 'ERR_DEMO_STEP_FAILED');
    assert.deepEqual(err.step, { id: 'deny', title: 'a policy' });
    assert.match(err.message, /step 'deny' \(a policy\) failed: refused/);
    assert.deepEqual(lines, ['\n== a policy']);
  });

  it('fails the step named by AMBIENT_DEMO_FAIL_AT, and no other', async () => {
    const steps = new StepRunner(() => {}, 'mtls');
    assert.equal(await steps.run('calls', 'calls', async () => 7), 7);
    const err = await steps.run('mtls', 'mtls', async () => 7).catch((e: unknown) => e);
    assert.ok(err instanceof DemoStepError && err.cause instanceof DemoFailpointError);
    assert.throws(() => steps.failpoint('mtls'), DemoFailpointError);
    assert.doesNotThrow(() => steps.failpoint('deny'));
  });
});

describe('probeUntil', () => {
  it('answers once the probe does', async () => {
    let calls = 0;
    await probeUntil({ what: 'x', timeoutMs: 10_000, signal: new AbortController().signal }, async () => ++calls === 2);
    assert.equal(calls, 2);
  });

  it('gives up at its ceiling, naming what it waited for', async () => {
    const err = await probeUntil({ what: 'the policy to reach ztunnel', timeoutMs: 0, signal: new AbortController().signal }, async () => false).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof WaitTimeoutError);
    assert.match(err.message, /timed out after 0 s waiting for the policy to reach ztunnel/);
  });

  it('ends at once with the abort reason when aborted', async () => {
    const abort = new AbortController();
    const reason = new Error('SIGINT');
    setTimeout(() => abort.abort(reason), 10);
    await assert.rejects(
      probeUntil({ what: 'x', timeoutMs: 60_000, signal: abort.signal }, async () => false),
      (e: unknown) => e === reason,
    );
  });
});
