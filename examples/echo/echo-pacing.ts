// How the clients spread their requests over time: at most `concurrency` in flight, starts
// paced to a rate, and nothing started or left running past the deadline of the whole run.
// The clock is injected so the tests drive it; the echo app depends on nothing of the mesh,
// so this is the same shape as @ambient/api's Clock without importing it.

export interface PacingClock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: PacingClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface PacedRun {
  count: number;
  concurrency: number;
  ratePerSecond?: number;
  deadlineMs: number;
}

export interface PacedOutcome {
  /** Requests started; fewer than `count` when the deadline passed first. */
  sent: number;
  deadlineExceeded: boolean;
}

/**
 * Calls `send(index, signal)` for index 0..count-1. `send` must settle soon after `signal`
 * aborts (the run's deadline) and must not reject. Request i starts no earlier than
 * i/rate seconds after the run began: a fixed schedule, so a slow answer delays only the
 * requests behind it on the same worker rather than shifting every later start.
 */
export async function runPaced(
  run: PacedRun,
  send: (index: number, signal: AbortSignal) => Promise<void>,
  clock: PacingClock = systemClock,
): Promise<PacedOutcome> {
  const deadline = new AbortController();
  const started = clock.now();
  const timer = clock.setTimeout(() => deadline.abort(), run.deadlineMs);
  let next = 0;
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (!deadline.signal.aborted) {
      const index = next++;
      if (index >= run.count) return;
      if (run.ratePerSecond !== undefined) {
        const wait = started + (index * 1000) / run.ratePerSecond - clock.now();
        if (wait > 0 && !(await sleep(clock, wait, deadline.signal))) return;
      }
      sent++;
      await send(index, deadline.signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(run.concurrency, run.count) }, worker));
  clock.clearTimeout(timer);
  return { sent, deadlineExceeded: deadline.signal.aborted };
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(clock: PacingClock, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
