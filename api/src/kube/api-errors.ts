// What a failed client-node call says: its HTTP status and the API server's own message.
import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed API call: client-node's ApiException, or any error carrying a
 *  numeric `code` the same way (duck-typed, so a second copy of client-node still counts). */
export function apiStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(err: unknown): boolean {
  return apiStatusCode(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return apiStatusCode(err) === 409;
}

/** Why a request failed, for logs and errors: the status code and the API's own message (it
 *  names the object) when there is one, else the error's message. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    let body = err.body as { message?: unknown } | string | undefined;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body) as { message?: unknown };
      } catch {
        /* not a Status: use the text as it is */
      }
    }
    const message = typeof body === 'string' ? body : typeof body?.message === 'string' ? body.message : undefined;
    return `${err.code}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
