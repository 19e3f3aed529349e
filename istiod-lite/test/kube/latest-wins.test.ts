import assert from 'node:assert/strict';
import { mock } from 'node:test';
import { LatestWins } from '../../src/kube/latest-wins.ts';

describe('LatestWins', () => {
  it('runs the newest input after the one in progress, skipping the superseded ones', async () => {
    const ran: number[] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const w = new LatestWins<number>(async (n) => {
      ran.push(n);
      if (n === 1) await first;
      return { failed: 0 };
    }, 1_000);
    w.offer(1);
    w.offer(2);
    w.offer(3);
    release();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(ran, [1, 3]);
    w.stop();
  });

  it('retries a failed run after the delay unless newer input came, and not after stop', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const ran: number[] = [];
      let fail = true;
      const w = new LatestWins<number>(async (n) => {
        ran.push(n);
        return { failed: fail ? 1 : 0 };
      }, 2_000);
      const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve(); };
      w.offer(7);
      await settle();
      assert.deepEqual(ran, [7]);
      mock.timers.tick(1_999);
      await settle();
      assert.deepEqual(ran, [7], 'not before the delay');
      fail = false;
      mock.timers.tick(1);
      await settle();
      assert.deepEqual(ran, [7, 7], 'retried once the delay passed');
      mock.timers.tick(10_000);
      await settle();
      assert.deepEqual(ran, [7, 7], 'a successful run is not retried');
      fail = true;
      w.offer(8);
      await settle();
      w.stop();
      mock.timers.tick(10_000);
      await settle();
      assert.deepEqual(ran, [7, 7, 8], 'no retry after stop');
    } finally {
      mock.timers.reset();
    }
  });
});
