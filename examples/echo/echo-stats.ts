// The server's state that tests read back: how many requests reached this process (so a test
// can count retries behind a proxy) and the deterministic failure schedule of /fail/<percent>.

/** Distinct first path segments counted by name; the rest go under "other". */
export const MAX_PATH_KEYS = 100;
export const OTHER_PATHS = 'other';

export interface StatsSnapshot {
  pod: string;
  version: string;
  requests: number;
  byPath: Record<string, number>;
}

export class RequestStats {
  #requests = 0;
  #byPath = new Map<string, number>();

  /** Counts a request to `pathname` (an HTTP path or a gRPC method path). */
  record(pathname: string): void {
    this.#requests++;
    let key = firstSegment(pathname);
    if (!this.#byPath.has(key) && this.#byPath.size >= MAX_PATH_KEYS) key = OTHER_PATHS;
    this.#byPath.set(key, (this.#byPath.get(key) ?? 0) + 1);
  }

  snapshot(pod: string, version: string): StatsSnapshot {
    return { pod, version, requests: this.#requests, byPath: Object.fromEntries(this.#byPath) };
  }

  reset(): void {
    this.#requests = 0;
    this.#byPath.clear();
  }
}

/** "/fail/50/503" → "fail"; "/" → "". */
export function firstSegment(pathname: string): string {
  const end = pathname.indexOf('/', 1);
  return pathname.slice(1, end < 0 ? pathname.length : end);
}

/**
 * Whether request n (0-based) of a `percent`% failure schedule fails: exactly when the running
 * count of failures owed, floor(n·p/100), steps up. Failures are spread as evenly as integers
 * allow (50% alternates success, failure; 25% fails every fourth) and any window of 100
 * consecutive requests holds exactly `percent` failures, so tests can assert exact counts.
 */
export function failsAt(n: number, percent: number): boolean {
  return Math.floor(((n + 1) * percent) / 100) > Math.floor((n * percent) / 100);
}

/** One request counter per percent value (0..100), so /fail/50 and /fail/10 do not interleave. */
export class FailureSchedule {
  #next = new Array<number>(101).fill(0);

  /** Advances the counter of `percent` and says whether this request fails. */
  next(percent: number): boolean {
    const n = this.#next[percent]!;
    this.#next[percent] = n + 1;
    return failsAt(n, percent);
  }

  reset(): void {
    this.#next.fill(0);
  }
}
