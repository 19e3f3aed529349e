// Periodic memory release: the schedule (virtual time) and the addon call (a child process frees
// 64 MiB of native buffers and checks how much of it the kernel got back).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { FakeClock } from '@ambient/api/testing';
import { nativeAddonPath } from '../src/capture/native.ts';
import { connectionWeight, sessionWeight, startMemoryRelease } from '../src/memory-release.ts';

describe('memory release (malloc trim, heap shrink)', () => {
  it('trims every interval until stopped', () => {
    const clock = new FakeClock(0);
    let calls = 0;
    const trim = (): boolean => ++calls > 0;
    const trimmer = startMemoryRelease({ intervalMs: 10_000, trim, timers: clock.timers });
    clock.advance(9_999);
    assert.equal(calls, 0);
    clock.advance(1);
    clock.advance(20_000);
    assert.equal(calls, 3);
    assert.equal(trimmer.trims(), 3);
    trimmer.stop();
    clock.advance(60_000);
    assert.equal(calls, 3);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('an interval of 0 never trims', () => {
    const clock = new FakeClock(0);
    let calls = 0;
    startMemoryRelease({ intervalMs: 0, trim: () => ++calls > 0, timers: clock.timers });
    clock.advance(3_600_000);
    assert.equal(calls, 0);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('a trim that throws is reported once and trimming stops (the process goes on)', () => {
    const clock = new FakeClock(0);
    const errors: unknown[] = [];
    const trimmer = startMemoryRelease({
      intervalMs: 1_000,
      trim: () => {
        throw new Error('native addon not built');
      },
      timers: clock.timers,
      onError: (err) => errors.push(err),
    });
    clock.advance(10_000);
    assert.equal(errors.length, 1);
    assert.equal(trimmer.trims(), 0);
    assert.deepEqual(clock.pendingDelays(), []);
  });

  it('shrinks the JavaScript heap once the open connections fell by 1000 from their peak, not while they hold or churn', () => {
    const clock = new FakeClock(0);
    let open = 0;
    let reduced = 0;
    const trimmer = startMemoryRelease({ intervalMs: 10_000, trim: () => true, connections: () => open, reduceHeap: () => reduced++, timers: clock.timers });
    for (const n of [500, 5_000, 10_000, 10_000, 9_500]) {
      open = n; // growing, holding, a few closing: no reduction
      clock.advance(10_000);
    }
    assert.equal(reduced, 0);
    open = 8_000; // 2000 below the peak
    clock.advance(10_000);
    assert.equal(reduced, 1);
    open = 7_500; // the peak restarted at 8000
    clock.advance(10_000);
    assert.equal(reduced, 1);
    open = 0;
    clock.advance(10_000);
    assert.equal(reduced, 2);
    assert.equal(trimmer.heapReductions(), 2);
    assert.equal(trimmer.trims(), 8);
  });

  it('shrinks the heap again when idle HBONE sessions close after their streams (sessions count as several streams)', () => {
    const clock = new FakeClock(0);
    let c = { streams: 0, sessions: 0 };
    let reduced = 0;
    startMemoryRelease({ intervalMs: 10_000, trim: () => true, connections: () => connectionWeight(c), reduceHeap: () => reduced++, timers: clock.timers });
    c = { streams: 10_000, sessions: 100 };
    clock.advance(10_000);
    c = { streams: 0, sessions: 100 }; // the streams closed; the pool keeps its sessions 60 s
    clock.advance(10_000);
    assert.equal(reduced, 1);
    clock.advance(50_000);
    assert.equal(reduced, 1, 'nothing closed meanwhile');
    c = { streams: 0, sessions: 0 }; // the idle sessions went
    clock.advance(10_000);
    assert.equal(reduced, 2);
    assert.equal(connectionWeight({ streams: 3, sessions: 2 }), 3 + 2 * sessionWeight);
  });

  it("the addon's low-memory notification releases the JavaScript heap's emptied pages (heapTotal falls)", () => {
    const script = `(() => {
      const addon = require(${JSON.stringify(nativeAddonPath)});
      let held = Array.from({ length: 1_000_000 }, (_, i) => ({ i, s: 'x' + i }));
      const total = () => process.memoryUsage().heapTotal;
      const grown = total();
      held = undefined;
      const before = total(); // nothing collected yet: no allocation since
      addon.lowMemoryNotification();
      console.log(JSON.stringify({ grown, before, after: total() }));
    })()`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 }));
    assert.ok(out.before - out.after > 32 * 1048576, `heapTotal ${out.before} bytes before, ${out.after} after: expected over 32 MiB released`);
  });

  it('the addon hands freed heap pages back to the kernel (RSS falls), where free() alone keeps them', () => {
    // 2048 buffers of 32 KiB (under malloc's mmap threshold, so on the heap); all but the last
    // are freed, and the last keeps the heap's top in use, so free() cannot shrink it by itself.
    // --single-threaded-gc: the buffers are freed within gc(), not later by a background sweeper.
    // In a function: at the top level of `-e` the array would stay reachable.
    const script = `(() => {
      const addon = require(${JSON.stringify(nativeAddonPath)});
      const rss = () => Number(/^Rss:\\s+(\\d+)/m.exec(require('fs').readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]);
      let held = Array.from({ length: 2048 }, () => Buffer.allocUnsafeSlow(32 * 1024).fill(1));
      const last = held.at(-1);
      held = undefined;
      gc(); gc();
      const freed = rss();
      const released = addon.trimMalloc();
      console.log(JSON.stringify({ freed, trimmed: rss(), released, last: last.length }));
    })()`;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--single-threaded-gc', '-e', script], { encoding: 'utf8', timeout: 30_000 }));
    assert.equal(out.released, true);
    assert.ok(out.freed - out.trimmed > 32 * 1024, `RSS ${out.freed} KiB before the trim, ${out.trimmed} KiB after: expected over 32 MiB back`);
  });
});
