import assert from 'node:assert/strict';
import { mock } from 'node:test';
import { LatestWins } from '../../src/kube/latest-wins.ts';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('LatestWins', () => {
  it('runs the newest input after the one in progress, skipping the superseded ones', async () => {
    const ran: number[] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const w = new LatestWins<number>(
      async (n) => {
        ran.push(n);
        if (n === 1) await first;
        return { failed: 0 };
      },
      { retryMs: 1_000 },
    );
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
      const w = new LatestWins<number>(
        async (n) => {
          ran.push(n);
          return { failed: fail ? 1 : 0 };
        },
        { retryMs: 2_000 },
      );
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
  it('debounces a burst: runs once, a quiet period after the latest offer, with the folded input', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const ran: number[] = [];
      const w = new LatestWins<number>(
        (n) => {
          ran.push(n);
        },
        { debounceMs: 20, maxDelayMs: 500, retryMs: 1_000, coalesce: (older) => older },
      );
      w.offer(1);
      mock.timers.tick(15);
      w.offer(2);
      mock.timers.tick(15);
      await settle();
      assert.deepEqual(ran, [], 'the second offer restarted the quiet period');
      mock.timers.tick(5);
      await settle();
      assert.deepEqual(ran, [1], 'one run, with the first input of the burst kept by coalesce');
      await w.stop();
    } finally {
      mock.timers.reset();
    }
  });

  it('runs at most maxDelayMs after the first offer of a burst under constant churn', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      let runs = 0;
      const w = new LatestWins<number>(
        () => {
          runs++;
        },
        { debounceMs: 20, maxDelayMs: 100, retryMs: 1_000 },
      );
      for (let t = 0; t < 100; t += 10) {
        w.offer(t);
        mock.timers.tick(10);
      }
      await settle();
      assert.equal(runs, 1, 'ran at 100 ms although offers kept coming every 10 ms');
      await w.stop();
    } finally {
      mock.timers.reset();
    }
  });

  it('retries a run that threw with growing back-off, holding new input until the retry', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const ran: number[] = [];
      const errors: number[] = [];
      let fail = true;
      const w = new LatestWins<number>(
        async (n) => {
          ran.push(n);
          if (fail) throw new Error('api down');
        },
        { retryMs: 200, maxRetryMs: 5_000, onError: (_err, failures) => errors.push(failures) },
      );
      w.offer(1);
      await settle();
      assert.deepEqual(ran, [1]);
      w.offer(2);
      await settle();
      assert.deepEqual(ran, [1], 'new input waits for the retry');
      mock.timers.tick(200);
      await settle();
      assert.deepEqual(ran, [1, 2], 'the retry runs the newest input');
      mock.timers.tick(399);
      await settle();
      assert.deepEqual(ran, [1, 2], 'the second retry waits twice as long');
      fail = false;
      mock.timers.tick(1);
      await settle();
      assert.deepEqual(ran, [1, 2, 2]);
      assert.deepEqual(errors, [1, 2]);
      await w.stop();
    } finally {
      mock.timers.reset();
    }
  });

  it('offers the latest input again every resyncMs, until stop()', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const ran: string[] = [];
      const w = new LatestWins<string>(
        (s) => {
          ran.push(s);
        },
        {
          debounceMs: 50,
          retryMs: 100,
          resyncMs: 10_000,
          clock: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout), now: () => Date.now() },
        },
      );
      w.offer('state');
      mock.timers.tick(50);
      await settle();
      mock.timers.tick(10_000);
      await settle();
      mock.timers.tick(50);
      await settle();
      assert.deepEqual(ran, ['state', 'state']);
      await w.stop();
      mock.timers.tick(20_000);
      await settle();
      assert.deepEqual(ran, ['state', 'state']);
    } finally {
      mock.timers.reset();
    }
  });
});
