// How the mesh's binaries run (ztunnel, istiod-lite, later the waypoint): flags checked before
// anything starts, one `ready` JSON line on stdout that supervisors (the local cluster, the
// benchmarks) wait for, a drain on SIGTERM/SIGINT, exit 1 when it cannot start, and once ready
// a last resort that logs and counts an uncaught error instead of dying of it.
import type { Logger } from 'pino';
import { MeshError } from './errors.ts';

export class FlagError extends MeshError<'ERR_FLAG'> {
  constructor(message: string) {
    super('ERR_FLAG', message);
  }
}

/** A port flag's value: a whole number from 0 (any free port) to 65535. */
export function portFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new FlagError(`--${flag} must be a port number, got '${value}'`);
  return n;
}

/** A count or limit flag's value: a whole number from 1 up. */
export function positiveIntegerFlag(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 1) throw new FlagError(`--${flag} must be a whole number of at least 1, got '${value}'`);
  return n;
}

/** A duration or count flag where 0 means off: a whole number from 0 up. */
export function wholeNumberFlag(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new FlagError(`--${flag} must be a whole number of at least 0, got '${value}'`);
  return n;
}

/** A flag that has no default. */
export function requiredFlag(flag: string, value: string | undefined): string {
  if (!value) throw new FlagError(`--${flag} is required`);
  return value;
}

/** What the last resort catches. */
export type LastResortEvent = 'uncaughtException' | 'unhandledRejection';

export interface RunningBinary {
  /** What the `ready` line says besides `msg: 'ready'` (the addresses it listens on). */
  ready: Record<string, unknown>;
  /** Drains and stops; the process exits 0 when it resolves, 1 when it rejects. */
  stop(): Promise<void>;
  /** Told of each error the last resort caught, to count it in the binary's metrics. */
  onUncaught?(event: LastResortEvent, err: unknown): void;
}

export interface RunOptions {
  /**
   * Once ready, keep serving after an uncaught exception or an unhandled rejection: logged with
   * the error and counted instead of ending the process. Default true, unless the environment
   * sets AMBIENT_EXIT_ON_UNCAUGHT=1.
   */
  keepServingOnUncaught?: boolean;
}

/**
 * The last resort of a process that serves many connections: an uncaught exception or an
 * unhandled rejection — a bug reached by one connection's input, most likely — is logged with
 * its error object and counted, and the process goes on serving the others, as Istio's proxies
 * do (Envoy and ztunnel lose the one connection, not the node's traffic).
 *
 * The trade-off: Node documents that after an uncaught exception the process may be in an
 * undefined state (a half-updated structure, a lock or a counter never released), and carrying
 * on can serve wrongly where a restart would have been clean. Our connection state is per
 * connection and the shared state (discovery, certificates) is replaced whole, never patched in
 * place, which is what makes carrying on the better bet; every catch is logged at error level
 * with the stack and counted (onUncaught: a metric to alert on). Who prefers crash-and-restart
 * opts out (RunOptions.keepServingOnUncaught: false, or AMBIENT_EXIT_ON_UNCAUGHT=1).
 *
 * Returns the uninstaller.
 */
export function installLastResort(logger: Logger, onUncaught?: (event: LastResortEvent, err: unknown) => void): () => void {
  const counts: Record<LastResortEvent, number> = { uncaughtException: 0, unhandledRejection: 0 };
  const handler =
    (event: LastResortEvent) =>
    (err: unknown): void => {
      counts[event]++;
      logger.error({ err, event, count: counts[event] }, `${event === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection'}; still serving`);
      try {
        onUncaught?.(event, err);
      } catch (hookErr) {
        logger.error({ err: hookErr, event }, 'onUncaught failed');
      }
    };
  const onException = handler('uncaughtException');
  const onRejection = handler('unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}

/** Starts a binary and keeps it running until SIGTERM or SIGINT. */
export async function runUntilSignal(name: string, logger: Logger, start: () => Promise<RunningBinary>, options: RunOptions = {}): Promise<void> {
  let running: RunningBinary;
  try {
    running = await start();
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    process.exit(err instanceof FlagError ? 2 : 1);
  }
  process.stdout.write(`${JSON.stringify({ msg: 'ready', ...running.ready })}\n`);
  // Only once ready: a failure while starting still ends the process (exit 1 above, or Node's own).
  if (options.keepServingOnUncaught ?? process.env.AMBIENT_EXIT_ON_UNCAUGHT !== '1') {
    installLastResort(logger, running.onUncaught?.bind(running));
  }
  const shutdown = (): void => {
    logger.info('draining');
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
