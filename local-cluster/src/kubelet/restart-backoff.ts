// Restart decisions of the kubelet, kept pure so the crash-loop behaviour is table-testable.
// Numbers follow the real kubelet: 1 s doubling to a 5-minute cap there; we cap at 30 s so a
// local cluster recovers quickly, and forget the back-off once a container ran for 60 s.

export const RESTART_BACKOFF_INITIAL_MS = 1_000;
export const RESTART_BACKOFF_MAX_MS = 30_000;
export const RESTART_BACKOFF_RESET_AFTER_MS = 60_000;

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** Whether a container that exited with `exitCode` is started again under `policy`. */
export function shouldRestart(policy: string | undefined, exitCode: number): boolean {
  switch (policy ?? 'Always') {
    case 'Never':
      return false;
    case 'OnFailure':
      return exitCode !== 0;
    default:
      return true;
  }
}

/**
 * Delay before the next start of a container that just exited.
 * `previousDelayMs` is the delay used before its last start (undefined = never backed off);
 * `ranForMs` is how long that last run lasted.
 */
export function nextRestartDelay(previousDelayMs: number | undefined, ranForMs: number): number {
  if (previousDelayMs === undefined || ranForMs >= RESTART_BACKOFF_RESET_AFTER_MS) return RESTART_BACKOFF_INITIAL_MS;
  return Math.min(previousDelayMs * 2, RESTART_BACKOFF_MAX_MS);
}
