// h2c (HTTP/2 with prior knowledge, gRPC) inside CONNECT streams: one shared http2.Server that
// never listens; each stream is handed over with `emit('connection', stream)` and becomes one
// HTTP/2 session (Node wraps a Duplex that is not a net.Socket in its JSStreamSocket).
// Requests reach the handler through the compatibility API (Http2ServerRequest/Response).
//
// Header size: the SETTINGS_MAX_HEADER_LIST_SIZE Node enforces (by resetting the stream with
// ENHANCE_YOUR_CALM) is set above our limit, so a request between the two is answered 431,
// like HTTP/1.1, and only an abusive one is reset. Idle: a session with no open stream for
// idleTimeoutMs is sent GOAWAY. There is no header timer: HEADERS frames arrive whole (or as
// CONTINUATIONs, which nghttp2 bounds).
import http2 from 'node:http2';
import type { Timers } from '@ambient/api';
import type { Logger } from 'pino';
import { callHandler, logHandlerFailure } from './call-handler.ts';
import { endGracefully } from './end-gracefully.ts';
import type { HttpHandlers, InboundConnection, InboundLimits, ServedTarget } from './inbound-connection.ts';
import type { PipeEnd } from './pipe-end.ts';

interface Http2Stream<T extends ServedTarget> {
  readonly conn: InboundConnection<T>;
  readonly end: PipeEnd;
  session: http2.ServerHttp2Session | undefined;
  open: number;
  timer: unknown;
}

export interface Http2InboundOptions<T extends ServedTarget> extends HttpHandlers<T> {
  limits: InboundLimits;
  timers: Timers;
  logger: Logger;
}

/** RFC 9113 §6.5.2: each field counts its name, its value and 32 octets. */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < rawHeaders.length; i++) size += rawHeaders[i]!.length;
  return size + 16 * rawHeaders.length;
}

export class Http2Inbound<T extends ServedTarget> {
  readonly #options: Http2InboundOptions<T>;
  readonly #server: http2.Http2Server;
  readonly #sessions = new WeakMap<http2.Http2Session, Http2Stream<T>>();
  #handingOver: Http2Stream<T> | undefined;

  constructor(options: Http2InboundOptions<T>) {
    this.#options = options;
    const { maxHeaderSize } = options.limits;
    this.#server = http2.createServer({ settings: { enablePush: false, maxHeaderListSize: Math.max(2 * maxHeaderSize, 64 * 1024) } });
    this.#server.on('session', (session) => this.#onSession(session));
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
  }

  /** Serves one stream as an HTTP/2 session. Returns how to drain it. */
  serve(end: PipeEnd, conn: InboundConnection<T>): () => void {
    const s: Http2Stream<T> = { conn, end, session: undefined, open: 0, timer: undefined };
    end.once('close', () => this.#disarm(s));
    // 'session' is emitted synchronously from 'connection', so this hands the stream over.
    this.#handingOver = s;
    try {
      this.#server.emit('connection', end);
    } finally {
      this.#handingOver = undefined;
    }
    this.#arm(s);
    return () => this.#close(s);
  }

  #onSession(session: http2.ServerHttp2Session): void {
    const s = this.#handingOver;
    if (s === undefined) return void session.destroy();
    s.session = session;
    this.#sessions.set(session, s);
    // A malformed frame fails this session (its CONNECT stream) only.
    session.on('error', (err) => this.#options.logger.debug({ err }, 'waypoint: h2c session failed'));
    session.on('stream', (stream) => {
      s.open++;
      this.#disarm(s);
      stream.once('close', () => {
        if (--s.open === 0) this.#arm(s);
      });
    });
  }

  #arm(s: Http2Stream<T>): void {
    this.#disarm(s);
    if (s.open > 0 || s.session === undefined || s.session.closed) return;
    s.timer = this.#options.timers.setTimeout(() => this.#close(s), this.#options.limits.idleTimeoutMs);
  }

  #disarm(s: Http2Stream<T>): void {
    if (s.timer === undefined) return;
    this.#options.timers.clearTimeout(s.timer);
    s.timer = undefined;
  }

  /** GOAWAY: open streams finish, then the session ends the stream; the linger bounds the wait for the client. */
  #close(s: Http2Stream<T>): void {
    this.#disarm(s);
    const { session } = s;
    if (session !== undefined && !session.closed && !session.destroyed) {
      session.close(() => endGracefully(s.end, this.#options.timers, this.#options.limits.lingerMs));
    } else {
      endGracefully(s.end, this.#options.timers, this.#options.limits.lingerMs);
    }
  }

  #onRequest(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void {
    const s = this.#sessions.get(req.stream.session!);
    if (s === undefined) return void req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    const { onRequest, onRejectedRequest, logger, limits } = this.#options;
    if (headerListSize(req.rawHeaders) > limits.maxHeaderSize) {
      onRejectedRequest?.({ conn: s.conn, status: 431, reason: 'header_list_too_large' });
      res.writeHead(431, { 'content-length': '0' }).end();
      return;
    }
    callHandler(
      () => onRequest(req, res, s.conn),
      (err) => {
        logHandlerFailure(logger, err);
        if (res.headersSent) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        else res.writeHead(500, { 'content-length': '0' }).end();
      },
    );
  }
}
