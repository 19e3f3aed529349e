// Periodic memory release. Node frees the native buffers of closed TLS and HTTP/2 sessions (tens of
// KiB each) into glibc's malloc, which keeps the pages: after connection churn, or pods coming and
// going, ztunnel's RSS would stay at its high-water mark. Measured on the savings benchmark's 144
// pods: 2-3 MiB given back under steady load, far more after churn; each trim takes 0.2-6 ms.
//
// V8 keeps its old generation's pages committed too: after 10 000 connections closed (about 11 KiB
// of JavaScript objects each), 118 MiB stayed committed for 14 MiB in use. When the number of open
// connections has fallen by `reduceAfterClosed` from its peak, the heap is asked to shrink (V8's
// low-memory notification: a compacting full GC, ~100 ms at that size) before the trim.
import { type Timers, unrefTimers } from '@ambient/api';

/**
 * What an HBONE session (TLS + HTTP/2, client or server side) weighs against a stream when the
 * open connections are counted for the heap shrink: its buffers and state are several streams'
 * worth. The pool keeps a session 60 s after its last stream; counting sessions shrinks the heap
 * again once they go. Measured with `npm run bench -- connections` (10 000 connections, 100 per
 * session): counting streams only, RSS stood 24-30% above idle 75 s after the close.
 */
export const sessionWeight = 10;

/** The open-connection count the heap shrink follows: streams and sockets, and sessions weighted. */
export function connectionWeight(c: { streams: number; sessions: number }): number {
  return c.streams + sessionWeight * c.sessions;
}

export interface MemoryReleaseOptions {
  /** Between two trims; 0 turns trimming off. */
  intervalMs: number;
  /** Releases free heap pages (the native addon's trimMalloc); true if any were released. */
  trim: () => boolean;
  /** Connections open now; with reduceHeap, a fall from the peak shrinks the JavaScript heap. */
  connections?: () => number;
  /** Compacts the JavaScript heap and releases its empty pages (the addon's lowMemoryNotification). */
  reduceHeap?: () => void;
  /** How far the open connections must fall from their peak (sampled at each trim) to reduceHeap (default 1000). */
  reduceAfterClosed?: number;
  timers?: Timers;
  /** A trim that threw (the addon missing): told once, and trimming stops. */
  onError?: (err: unknown) => void;
}

/** Every `intervalMs` until stop(): shrinks the heap if connections fell by reduceAfterClosed from their peak, then trims malloc. */
export function startMemoryRelease(opts: MemoryReleaseOptions): { stop(): void; trims(): number; heapReductions(): number } {
  const { intervalMs, trim, connections, reduceHeap, reduceAfterClosed = 1000, timers = unrefTimers, onError } = opts;
  let handle: unknown;
  let count = 0;
  let reductions = 0;
  let peak = 0;
  let stopped = intervalMs <= 0;
  const tick = (): void => {
    if (stopped) return;
    try {
      if (connections && reduceHeap) {
        const open = connections();
        peak = Math.max(peak, open);
        if (peak - open >= reduceAfterClosed) {
          reduceHeap();
          reductions++;
          peak = open;
        }
      }
      trim();
    } catch (err) {
      stopped = true;
      onError?.(err);
      return;
    }
    count++;
    handle = timers.setTimeout(tick, intervalMs);
  };
  if (!stopped) handle = timers.setTimeout(tick, intervalMs);
  return {
    stop() {
      stopped = true;
      if (handle !== undefined) timers.clearTimeout(handle);
    },
    trims: () => count,
    heapReductions: () => reductions,
  };
}
