// The one place a request handler's failure is caught: a throw or a rejected promise answers
// 500 when nothing was sent yet, else cuts that request; never the process, never the stream's
// other requests.
import type { Logger } from 'pino';

export function callHandler(run: () => void | Promise<void>, fail: (err: unknown) => void): void {
  try {
    const result = run();
    if (result !== undefined) result.then(undefined, fail);
  } catch (err) {
    fail(err);
  }
}

export function logHandlerFailure(logger: Logger, err: unknown): void {
  logger.error({ err }, 'waypoint: request handler failed');
}
