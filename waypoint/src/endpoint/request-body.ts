// The downstream request body as undici is given it: an async iterable over the Readable, never
// the Readable itself, for two reasons found in undici 8.12.4:
// - undici destroys a stream body when the exchange fails, and destroying a downstream
//   IncomingMessage destroys its socket, so the waypoint could no longer answer it (503);
// - its HTTP/2 path pipes a stream body with pipeline() and listens for 'data' on what pipeline
//   returns, which is the HTTP/2 stream itself: response DATA that arrives in the same read as the
//   response HEADERS, while the body is still being sent (gRPC bidi), goes to that listener and
//   is lost. An iterable body is written chunk by chunk, with no such listener.
// The iterable pulls one chunk at a time (the endpoint's flow control paces the downstream) and
// stops when the exchange ends, leaving the Readable to its owner.
import type { Readable } from 'node:stream';
import { EndpointError } from './endpoint-error.ts';

export async function* forwardBody(body: Readable, stop: AbortSignal): AsyncGenerator<Buffer> {
  while (!stop.aborted) {
    const chunk: Buffer | null = body.read();
    if (chunk !== null) {
      yield chunk;
      continue;
    }
    if (body.readableEnded) return;
    if (body.errored !== null) throw body.errored;
    if (body.destroyed) {
      throw new EndpointError('ERR_ENDPOINT_ABORTED', 'downstream request body closed before its end', { responseFlag: 'DC' });
    }
    await nextEvent(body, stop);
  }
}

/** Resolves on the body's next readable/end/error/close, or when the exchange stops. */
function nextEvent(body: Readable, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      body.off('readable', done);
      body.off('end', done);
      body.off('error', done);
      body.off('close', done);
      stop.removeEventListener('abort', done);
      resolve();
    };
    body.on('readable', done);
    body.on('end', done);
    body.on('error', done);
    body.on('close', done);
    stop.addEventListener('abort', done);
  });
}
