// HTTP/1.1 inside CONNECT streams: one shared http.Server that never listens; each stream is
// handed over with `emit('connection', stream)`, which Node's server accepts for any Duplex.
//
// What Node's server does not do for a stream that is not a net.Socket, this does:
// - its headersTimeout/requestTimeout/keepAliveTimeout run only for servers that listen (and
//   keep-alive needs socket.setTimeout): the header and idle timers here, on injected timers;
// - its default answer to a parse error needs `socket.bytesWritten`: the 'clientError' handler
//   here answers 400 (431 for oversized headers, 408 for slow ones) on that stream only;
// - a half-close (the client's FIN, carried as END_STREAM) aborts in-flight requests unless
//   `httpAllowHalfOpen` (an undocumented field, stable since Node 0.x): with it, the response
//   still goes out, then the stream ends.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Timers } from '@ambient/api';
import type { Logger } from 'pino';
import { callHandler, logHandlerFailure } from './call-handler.ts';
import { endGracefully } from './end-gracefully.ts';
import type { HttpHandlers, InboundConnection, InboundLimits, RejectedRequest, ServedTarget } from './inbound-connection.ts';
import type { PipeEnd } from './pipe-end.ts';

interface Http1Stream<T extends ServedTarget> {
  readonly conn: InboundConnection<T>;
  readonly end: PipeEnd;
  /** Requests in flight: their responses are not finished (more than one when pipelined). */
  readonly responses: Set<http.ServerResponse>;
  /** Bytes of a request have arrived and its headers are not complete yet. */
  partial: boolean;
  /** End the stream once no response is in flight (close(), or a request that ended the connection). */
  closing: boolean;
  timer: unknown;
}

export interface Http1InboundOptions<T extends ServedTarget> extends HttpHandlers<T> {
  limits: InboundLimits;
  timers: Timers;
  logger: Logger;
}

function rawResponse(status: RejectedRequest['status']): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;
}

export class Http1Inbound<T extends ServedTarget> {
  readonly #options: Http1InboundOptions<T>;
  readonly #server: http.Server;
  readonly #streams = new WeakMap<Duplex, Http1Stream<T>>();

  constructor(options: Http1InboundOptions<T>) {
    this.#options = options;
    // The Host check is ours (below) so that its 400 is reported like every other rejection.
    this.#server = http.createServer({ maxHeaderSize: options.limits.maxHeaderSize, requireHostHeader: false });
    (this.#server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
    // Only for the `Keep-Alive: timeout=N` header Node writes: tells clients our idle timeout.
    this.#server.keepAliveTimeout = options.limits.idleTimeoutMs;
    this.#server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.#onRequest(req, res));
    this.#server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => this.#onClientError(err, socket));
  }

  /** Serves one stream. `arrived`: bytes of its first request are already in it. Returns how to drain it. */
  serve(end: PipeEnd, conn: InboundConnection<T>, arrived: boolean): () => void {
    const s: Http1Stream<T> = { conn, end, responses: new Set(), partial: arrived, closing: false, timer: undefined };
    this.#streams.set(end, s);
    end.observe((chunk) => {
      if (chunk === null || s.responses.size > 0 || s.partial) return;
      s.partial = true;
      this.#arm(s);
    });
    end.once('close', () => this.#disarm(s));
    this.#arm(s);
    this.#server.emit('connection', end);
    return () => {
      s.closing = true;
      if (s.responses.size === 0) return this.#close(s);
      for (const res of s.responses) if (!res.headersSent) res.setHeader('connection', 'close');
    };
  }

  /** Between requests: the idle timer, or the header timer once a request has begun. */
  #arm(s: Http1Stream<T>): void {
    this.#disarm(s);
    if (s.responses.size > 0 || s.end.writableEnded) return;
    const { timers, limits } = this.#options;
    s.timer = s.partial
      ? timers.setTimeout(() => this.#reject(s, 408, 'headers_timeout'), limits.headersTimeoutMs)
      : timers.setTimeout(() => this.#close(s), limits.idleTimeoutMs);
  }

  #disarm(s: Http1Stream<T>): void {
    if (s.timer === undefined) return;
    this.#options.timers.clearTimeout(s.timer);
    s.timer = undefined;
  }

  #close(s: Http1Stream<T>): void {
    this.#disarm(s);
    endGracefully(s.end, this.#options.timers, this.#options.limits.lingerMs);
  }

  #reject(s: Http1Stream<T>, status: RejectedRequest['status'], reason: string): void {
    this.#disarm(s);
    this.#options.onRejectedRequest?.({ conn: s.conn, status, reason });
    endGracefully(s.end, this.#options.timers, this.#options.limits.lingerMs, rawResponse(status));
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const s = this.#streams.get(req.socket);
    // A request that raced our end of the stream: the client sees the stream close, as on a
    // keep-alive connection closed by the server.
    if (s === undefined || s.end.writableEnded) return void res.destroy();
    s.responses.add(res);
    s.partial = false;
    this.#disarm(s);
    if (s.closing) res.setHeader('connection', 'close');
    res.once('close', () => {
      s.responses.delete(res);
      if (s.responses.size > 0) return;
      if (s.closing) this.#close(s);
      else this.#arm(s);
    });
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400.
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      s.closing = true;
      this.#options.onRejectedRequest?.({ conn: s.conn, status: 400, reason: 'missing_host' });
      res.writeHead(400, { 'content-length': '0', connection: 'close' }).end();
      return;
    }
    const { onRequest, logger } = this.#options;
    callHandler(
      () => onRequest(req, res, s.conn),
      (err) => {
        logHandlerFailure(logger, err);
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { 'content-length': '0' }).end();
      },
    );
  }

  #onClientError(err: Error & { code?: string }, socket: Duplex): void {
    const s = this.#streams.get(socket);
    if (s === undefined) return void socket.destroy();
    // Our own cut (linger, drain) surfaces here too, and a parser that failed once may fail again.
    if (s.end.destroyed || s.end.writableEnded) return;
    // Mid-request (a bad chunked body, a pipelined request while one is served): no status can
    // be written without corrupting the response in progress; cut the stream.
    if (s.responses.size > 0) return void s.end.destroy();
    this.#reject(s, err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, err.code ?? 'bad_request');
  }
}
