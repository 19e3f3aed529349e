// The controllers' level-triggered loops: any change offers a run; after a short debounce the
// whole state is reconciled once, never concurrently with itself. A failed run is retried with
// a capped back-off (changes meanwhile wait for it), and a periodic resync catches anything a
// lost event or write left behind. The mechanism is @ambient/api/kube's LatestWins; this file
// holds the controller manager's settings for it.
import type { Logger } from 'pino';
import { LatestWins } from '@ambient/api/kube';

export interface ReconcileLoopOptions {
  debounceMs?: number;
  resyncMs?: number;
}

export type ReconcileLoop = LatestWins<void>;

export function reconcileLoop(name: string, fn: () => Promise<void>, logger: Logger, opts: ReconcileLoopOptions = {}): ReconcileLoop {
  return new LatestWins<void>(fn, {
    debounceMs: opts.debounceMs ?? 50,
    retryMs: 200,
    maxRetryMs: 5_000,
    resyncMs: opts.resyncMs ?? 10_000,
    onError: (err, failures) => logger.warn({ err, controller: name, failures }, 'reconcile failed; retrying'),
  });
}
