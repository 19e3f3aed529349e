import assert from 'node:assert/strict';
import type { Clock, Timeouts } from '@ambient/api';
import { FakeClock } from '@ambient/api/testing';
import { Deadline, TimeoutError } from '../../src/policy/deadline.ts';

const T0 = 1_700_000_000_000;

function setup(timeouts: Timeouts | undefined): { clock: FakeClock; deadline: Deadline } {
  const clock = new FakeClock(T0);
  const asClock: Clock = { now: clock.now, ...clock.timers };
  return { clock, deadline: new Deadline(timeouts, asClock) };
}

function reason(signal: AbortSignal): TimeoutError {
  assert.ok(signal.aborted, 'aborted');
  assert.ok(signal.reason instanceof TimeoutError, `reason ${String(signal.reason)}`);
  return signal.reason;
}

describe('Deadline', () => {
  it('without timeouts never fires and holds no timer', () => {
    const { clock, deadline } = setup(undefined);
    const signal = deadline.startTry();
    assert.deepEqual(clock.pendingDelays(), []);
    clock.advance(3_600_000);
    assert.equal(signal.aborted, false);
    assert.equal(deadline.signal.aborted, false);
    assert.equal(deadline.remainingMs(), Number.POSITIVE_INFINITY);
    assert.equal(deadline.timedOut(), undefined);
  });

  it('reads 0 as no limit, as the wire does', () => {
    const { clock, deadline } = setup({ requestMs: 0, backendRequestMs: 0 });
    deadline.startTry();
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('times out each try after backendRequest, and the next try starts afresh', () => {
    const { clock, deadline } = setup({ backendRequestMs: 300 });
    const first = deadline.startTry();
    clock.advance(299);
    assert.equal(first.aborted, false);
    clock.advance(1);
    const err = reason(first);
    assert.equal(err.kind, 'backend-request');
    assert.equal(err.code, 'ERR_BACKEND_REQUEST_TIMEOUT');
    assert.equal(err.timeoutMs, 300);
    assert.match(err.message, /timeouts\.backendRequest 300 ms/);
    assert.equal(deadline.timedOut(), 'backend-request');
    assert.equal(deadline.signal.aborted, false, 'the request goes on: it may be retried');

    clock.advance(1000);
    const second = deadline.startTry();
    assert.equal(deadline.timedOut(), undefined, 'a new try has not timed out');
    assert.deepEqual(clock.pendingDelays(), [300]);
    clock.advance(200);
    deadline.endTry();
    clock.advance(1000);
    assert.equal(second.aborted, false, 'a try that ended in time is not aborted later');
  });

  it('times out the request, the try under way with it, and refuses later tries', () => {
    const { clock, deadline } = setup({ requestMs: 1000 });
    clock.advance(400);
    assert.equal(deadline.remainingMs(), 600);
    const attempt = deadline.startTry();
    clock.advance(600);
    assert.equal(reason(attempt).kind, 'request');
    const err = reason(deadline.signal);
    assert.equal(err.code, 'ERR_REQUEST_TIMEOUT');
    assert.equal(err.status, 504);
    assert.equal(err.responseFlags, 'UT');
    assert.equal(deadline.timedOut(), 'request');
    assert.equal(deadline.remainingMs(), 0);
    assert.equal(reason(deadline.startTry()).kind, 'request');
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('fires each try at the earlier of its own deadline and the request deadline', () => {
    const { clock, deadline } = setup({ requestMs: 1000, backendRequestMs: 400 });
    const first = deadline.startTry();
    clock.advance(400);
    assert.equal(reason(first).kind, 'backend-request');
    clock.advance(50); // backoff
    const second = deadline.startTry();
    clock.advance(400);
    assert.equal(reason(second).kind, 'backend-request', 'fired at 850, before the request deadline');
    clock.advance(50);
    const third = deadline.startTry();
    clock.advance(99);
    assert.equal(third.aborted, false);
    clock.advance(1);
    assert.equal(reason(third).kind, 'request', 'fired at 1000, not 1300');
    assert.equal(deadline.timedOut(), 'request');
  });

  it('reports the request timeout when both limits fall at the same moment', () => {
    const { clock, deadline } = setup({ requestMs: 500, backendRequestMs: 500 });
    const attempt = deadline.startTry();
    assert.deepEqual(clock.pendingDelays(), [500], 'one timer, the request one');
    clock.advance(500);
    assert.equal(reason(attempt).kind, 'request');
  });

  it('aborts a backoff wait through the request signal', () => {
    const { clock, deadline } = setup({ requestMs: 100 });
    let woke: string | undefined;
    const wait = clock.timers.setTimeout(() => {
      woke = 'backoff over';
    }, 250);
    deadline.signal.addEventListener('abort', () => {
      clock.timers.clearTimeout(wait);
      woke = 'deadline';
    });
    clock.advance(1000);
    assert.equal(woke, 'deadline');
  });

  it('cleans up: endTry clears the try timer, close clears every timer and refuses later tries', () => {
    const { clock, deadline } = setup({ requestMs: 10_000, backendRequestMs: 1000 });
    deadline.startTry();
    assert.deepEqual(clock.pendingDelays(), [1000, 10_000]);
    deadline.endTry();
    assert.deepEqual(clock.pendingDelays(), [10_000]);
    deadline.startTry();
    deadline.startTry();
    assert.deepEqual(clock.pendingDelays(), [1000, 10_000], 'a new try replaces the previous one and its timer');
    deadline.close();
    assert.deepEqual(clock.pendingDelays(), []);
    const late = deadline.startTry();
    assert.equal(late.aborted, true);
    assert.deepEqual(clock.pendingDelays(), []);
    clock.advance(20_000);
    assert.equal(deadline.signal.aborted, false, 'a closed request does not time out');
    assert.equal(deadline.timedOut(), undefined);
  });

  it('reaches a limit longer than a Node timer can hold in steps', () => {
    const requestMs = 3_000_000_000; // about 35 days: the largest uint32 milliseconds are ~49 days
    const { clock, deadline } = setup({ requestMs });
    assert.ok(clock.pendingDelays()[0]! <= 2 ** 31 - 1);
    clock.advance(2 ** 31 - 1);
    assert.equal(deadline.signal.aborted, false);
    assert.equal(deadline.remainingMs(), requestMs - (2 ** 31 - 1));
    clock.advance(requestMs - (2 ** 31 - 1));
    assert.equal(reason(deadline.signal).timeoutMs, requestMs);
  });
});
