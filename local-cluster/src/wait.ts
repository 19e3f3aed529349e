// Waiting for the cluster (the demo, the mesh's deployment). What the API shows is watched (a list+watch re-checks the condition on every
// event); what only the data plane shows (a call refused by ztunnel) is probed, with a growing
// interval. Both have a generous ceiling: a loaded machine slows the demo down rather than
// failing it, and a real failure still ends it, naming what it waited for.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MeshError } from '@ambient/api';
import { ResilientInformer } from '@ambient/api/kube';

/** Default ceilings; the usual time on an idle 2-core machine is a few seconds at most. */
export const apiWaitMs = 180_000;
export const dataPlaneWaitMs = 120_000;

export class WaitTimeoutError extends MeshError<'ERR_WAIT_TIMEOUT'> {
  constructor(what: string, timeoutMs: number, detail?: string) {
    super('ERR_WAIT_TIMEOUT', `timed out after ${timeoutMs / 1000} s waiting for ${what}${detail ? ` (${detail})` : ''}`);
  }
}

export interface WaitOptions {
  /** What is awaited, in words, for the error. */
  what: string;
  timeoutMs: number;
  /** Aborting ends the wait with the signal's reason. */
  signal: AbortSignal;
}

/** Resolves with the objects under `path` once `ready` holds for them. `describe` says, on a
 *  time-out, what was still missing. */
export async function watchUntil<T extends KubernetesObject>(
  kc: KubeConfig,
  logger: Logger,
  opts: WaitOptions & { path: string; list: () => Promise<KubernetesListObject<T>>; describe?: (objects: T[]) => string },
  ready: (objects: T[]) => boolean,
): Promise<T[]> {
  opts.signal.throwIfAborted();
  let settle: (objects: T[]) => void = () => {};
  const done = new Promise<T[]>((resolve) => {
    settle = resolve;
  });
  const informer = new ResilientInformer<T>(kc, {
    path: opts.path,
    list: opts.list,
    logger,
    onEvent: () => {
      const objects = informer.list();
      if (ready(objects)) settle(objects);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort = (): void => {};
  try {
    await informer.start();
    const now = informer.list();
    if (ready(now)) return now;
    return await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WaitTimeoutError(opts.what, opts.timeoutMs, opts.describe?.(informer.list()))), opts.timeoutMs);
        onAbort = () => reject(opts.signal.reason);
        opts.signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onAbort);
    await informer.stop();
  }
}

/** Calls `probe` until it answers true: every 200 ms at first, backing off to every 2 s. */
export async function probeUntil(opts: WaitOptions, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let intervalMs = 200;
  for (;;) {
    opts.signal.throwIfAborted();
    if (await probe()) return;
    if (Date.now() > deadline) throw new WaitTimeoutError(opts.what, opts.timeoutMs);
    await sleep(intervalMs, undefined, { signal: opts.signal }).catch(() => opts.signal.throwIfAborted());
    intervalMs = Math.min(intervalMs * 1.5, 2_000);
  }
}
