import assert from 'node:assert/strict';
import { FakeClock } from '@ambient/api/testing';
import { type PacedOutcome, type PacedRun, type PacingClock, runPaced } from '../echo/echo-pacing.ts';

/** A run on virtual time whose requests each take `serviceMs` unless the deadline aborts them. */
function harness(run: PacedRun, serviceMs: number) {
  const fake = new FakeClock(1_000_000);
  const clock: PacingClock = { now: fake.now, ...fake.timers };
  const starts: number[] = [];
  const aborted: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let outcome: PacedOutcome | undefined;
  const done = runPaced(
    run,
    (index, signal) =>
      new Promise<void>((resolve) => {
        starts[index] = fake.now() - 1_000_000;
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        const finish = (): void => {
          inFlight--;
          resolve();
        };
        const timer = clock.setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          finish();
        }, serviceMs);
        const onAbort = (): void => {
          clock.clearTimeout(timer);
          aborted.push(index);
          finish();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    clock,
  ).then((o) => {
    outcome = o;
  });
  return {
    fake,
    starts,
    aborted,
    maxInFlight: () => maxInFlight,
    outcome: () => outcome,
    /** Moves virtual time in steps, letting the promise chains between timers run. */
    async advance(ms: number, step = 1): Promise<void> {
      for (let t = 0; t < ms; t += step) {
        fake.advance(step);
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    done,
  };
}

describe('runPaced', () => {
  it('runs unpaced requests one after another by default', async () => {
    const h = harness({ count: 4, concurrency: 1, deadlineMs: 10_000 }, 10);
    await h.advance(50);
    await h.done;
    assert.deepEqual(h.starts, [0, 10, 20, 30]);
    assert.equal(h.maxInFlight(), 1);
    assert.deepEqual(h.outcome(), { sent: 4, deadlineExceeded: false });
    assert.deepEqual(h.fake.pendingDelays(), [], 'the deadline timer is cleared');
  });

  it('keeps at most --concurrency requests in flight', async () => {
    const h = harness({ count: 10, concurrency: 3, deadlineMs: 10_000 }, 10);
    await h.advance(50);
    await h.done;
    assert.equal(h.maxInFlight(), 3);
    assert.deepEqual(h.starts, [0, 0, 0, 10, 10, 10, 20, 20, 20, 30]);
    assert.deepEqual(h.outcome(), { sent: 10, deadlineExceeded: false });
  });

  it('starts request i at i/rate seconds', async () => {
    const h = harness({ count: 5, concurrency: 4, ratePerSecond: 10, deadlineMs: 10_000 }, 5);
    await h.advance(500, 5);
    await h.done;
    assert.deepEqual(h.starts, [0, 100, 200, 300, 400]);
    assert.equal(h.maxInFlight(), 1, 'fast answers never overlap at this rate');
  });

  it('starts a request that fell behind its schedule as soon as a worker is free, without a burst', async () => {
    // 10/s but each answer takes 250 ms on the one worker: the schedule is the floor, not a target to catch up to.
    const h = harness({ count: 3, concurrency: 1, ratePerSecond: 10, deadlineMs: 10_000 }, 250);
    await h.advance(800, 5);
    await h.done;
    assert.deepEqual(h.starts, [0, 250, 500]);
  });

  it('stops at the deadline: nothing new starts, what is in flight is aborted', async () => {
    const h = harness({ count: 10, concurrency: 2, deadlineMs: 250 }, 100);
    await h.advance(400, 10);
    await h.done;
    assert.deepEqual(h.starts, [0, 0, 100, 100, 200, 200]);
    assert.deepEqual(h.aborted.sort(), [4, 5]);
    assert.deepEqual(h.outcome(), { sent: 6, deadlineExceeded: true });
  });

  it('does not start a paced request whose slot lies past the deadline', async () => {
    const h = harness({ count: 10, concurrency: 1, ratePerSecond: 2, deadlineMs: 1200 }, 10);
    await h.advance(1500, 10);
    await h.done;
    assert.deepEqual(h.starts, [0, 500, 1000]);
    assert.deepEqual(h.aborted, []);
    assert.deepEqual(h.outcome(), { sent: 3, deadlineExceeded: true });
    assert.deepEqual(h.fake.pendingDelays(), [], 'no pacing timer is left behind');
  });
});
