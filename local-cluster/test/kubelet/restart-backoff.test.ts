import assert from 'node:assert/strict';
import { nextRestartDelay, shouldRestart } from '../../src/kubelet/restart-backoff.ts';

describe('restart back-off', () => {
  it('doubles from 1 s to a 30 s cap for a crash-looping container', () => {
    const delays: number[] = [];
    let d: number | undefined;
    for (let i = 0; i < 8; i++) {
      d = nextRestartDelay(d, 100);
      delays.push(d);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('forgets the back-off after a run of 60 s', () => {
    assert.equal(nextRestartDelay(30000, 59_999), 30000);
    assert.equal(nextRestartDelay(30000, 60_000), 1000);
  });

  const table: [string | undefined, number, boolean][] = [
    [undefined, 0, true],
    ['Always', 0, true],
    ['Always', 1, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 0, false],
    ['Never', 1, false],
  ];
  for (const [policy, code, restart] of table) {
    it(`restartPolicy ${policy ?? '(default)'} with exit code ${code} ${restart ? 'restarts' : 'does not restart'}`, () => {
      assert.equal(shouldRestart(policy, code), restart);
    });
  }
});
