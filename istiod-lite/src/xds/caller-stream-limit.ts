// Concurrent discovery streams per authenticated caller. Without a cap any caller holding a valid
// token could open streams until istiod-lite ran out of memory (each stream holds subscriptions,
// the resources it was sent and a share of every push). Keyed by who the token proves: the pod
// for a pod-bound token (the ztunnels of all nodes share one ServiceAccount, so a per-account
// cap would cap the number of nodes), else the ServiceAccount.
import type { Caller } from '../auth/caller.ts';

/** 64: a proxy needs one stream (two while it reconnects); 64 leaves room for debugging tools. */
export const defaultMaxStreamsPerCaller = 64;

/** The identity a caller's streams are counted under. */
export function callerStreamKey(caller: Caller): string {
  const pod = caller.podUid ?? caller.podName;
  return pod === undefined ? caller.username : `${caller.username} (pod ${caller.podName ?? pod})`;
}

export class CallerStreamLimit {
  readonly max: number;
  readonly #open = new Map<string, number>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max streams per caller: ${max} is not a positive integer`);
    this.max = max;
  }

  /** Takes a slot for `key`, or returns false when it already holds `max`. */
  tryAcquire(key: string): boolean {
    const open = this.#open.get(key) ?? 0;
    if (open >= this.max) return false;
    this.#open.set(key, open + 1);
    return true;
  }

  release(key: string): void {
    const open = this.#open.get(key) ?? 0;
    if (open <= 1) this.#open.delete(key);
    else this.#open.set(key, open - 1);
  }

  open(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /** Callers holding at least one stream (the map never keeps empty entries). */
  get callers(): number {
    return this.#open.size;
  }
}
