// How the mesh's binaries run (ztunnel, istiod-lite, later the waypoint): flags checked before
// anything starts, one `ready` JSON line on stdout that supervisors (the local cluster, the
// benchmarks) wait for, a drain on SIGTERM/SIGINT, exit 1 when it cannot start.
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

/** Starts a binary and keeps it running until SIGTERM or SIGINT. */
export async function runUntilSignal(name: string, logger: Logger, start: () => Promise<RunningBinary>, _options: RunOptions = {}): Promise<void> {
  let running: RunningBinary;
  try {
    running = await start();
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    process.exit(err instanceof FlagError ? 2 : 1);
  }
  process.stdout.write(`${JSON.stringify({ msg: 'ready', ...running.ready })}\n`);
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
