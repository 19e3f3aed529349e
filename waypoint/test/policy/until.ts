// Bounded waiting for the tests that run against a real redis-server: poll a condition until a
// deadline (no fixed sleeps), or require a promise to settle within a bound.

/** Resolves once `condition()` is true; rejects naming `what` after `deadlineMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000, everyMs = 10): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * The promise's value, or a rejection if it has not settled within `ms`: a loose upper bound
 * (many times the budget under test), there to catch a call that blocks, not to time one.
 */
export function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms}ms`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
