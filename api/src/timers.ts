// The one timers interface: components take it injected so that tests drive time with fake
// timers instead of sleeping.

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface Clock extends Timers {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** Real timers that never keep a stopping process alive on their own. */
export const unrefTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Real timers that do keep the process alive while pending. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const realClock: Clock = { ...realTimers, now: () => Date.now() };
