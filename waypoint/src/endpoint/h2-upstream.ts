// HTTP/2 (h2c, gRPC) to an endpoint with Node's own http2 client, one session per endpoint
// over an HBONE stream, many requests on it. Not undici: undici 8 (8.12.4 and 8.14.0) stops
// reading a stream's DATA at its trailers, so a response whose message and trailers reach the
// waypoint in one read (a relay in between coalesces them) lost its message — a unary gRPC
// call answered OK with no message, which the client reports as UNIMPLEMENTED.
import http2 from 'node:http2';
import { type Duplex, Readable } from 'node:stream';
import { unrefTimers, type Timers } from '@ambient/api';
import type { HbonePool, HboneSource } from '@ambient/hbone';
import { requestsPerConnection, type Endpoint, type UpstreamRequest, type UpstreamResponse } from './endpoint.ts';
import { EndpointError, endpointFailure } from './endpoint-error.ts';
import { hboneConnectRequest } from './hbone-connector.ts';
import { forwardBody } from './request-body.ts';
import { downstreamResponseHeaders, flattenTrailers, upstreamRequestHeaders } from './upstream-headers.ts';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

interface SessionEntry {
  readonly session: Promise<http2.ClientHttp2Session>;
  active: number;
  /** Requests given to this session so far (for maxRequestsPerConnection). */
  assigned: number;
  idleTimer: unknown;
}

export interface H2UpstreamOptions {
  pool: HbonePool;
  source: () => HboneSource;
  timers?: Timers;
  idleTimeoutMs: number;
  maxConcurrentStreams: number;
}

export class H2Upstream {
  readonly #o: H2UpstreamOptions;
  readonly #timers: Timers;
  readonly #sessions = new Map<string, SessionEntry>();
  /** Sessions that reached maxRequestsPerConnection: no new requests, closed once their last one ends. */
  readonly #retired = new Set<SessionEntry>();
  readonly #live = new Set<http2.ClientHttp2Stream>();
  #closed = false;

  constructor(options: H2UpstreamOptions) {
    this.#o = options;
    this.#timers = options.timers ?? unrefTimers;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  async request(key: string, endpoint: Endpoint, request: UpstreamRequest, what: string): Promise<UpstreamResponse> {
    const entry = this.#entry(key, endpoint);
    entry.active++;
    this.#clearIdle(entry);
    const max = requestsPerConnection(endpoint);
    // Its last request: the next one opens another session (an HBONE stream of its own).
    if (max !== undefined && ++entry.assigned >= max) this.#retire(key, entry);
    let session: http2.ClientHttp2Session;
    try {
      session = await entry.session;
    } catch (err) {
      this.#done(key, entry);
      throw endpointFailure(err, what, { requestSent: false, responseStarted: false });
    }
    if (this.#closed) {
      this.#done(key, entry);
      throw new EndpointError('ERR_ENDPOINT_CLOSED', `upstream ${what}: endpoint client closed`);
    }
    if (request.signal?.aborted === true) {
      this.#done(key, entry);
      throw endpointFailure(undefined, what, { requestSent: false, responseStarted: false }, { aborted: { reason: request.signal.reason } });
    }
    const headers: http2.OutgoingHttpHeaders = { ...upstreamRequestHeaders(request.headers, request.authority) };
    delete headers.host;
    headers[':method'] = request.method;
    headers[':path'] = request.path;
    headers[':scheme'] = 'http';
    headers[':authority'] = request.authority;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: request.body === null });
    } catch (err) {
      this.#done(key, entry);
      throw endpointFailure(err, what, { requestSent: false, responseStarted: false });
    }
    this.#live.add(stream);
    let responseStarted = false;
    let aborted: { reason: unknown } | undefined;
    let downstreamGone = false;
    const stop = new AbortController();
    const onAbort = (): void => {
      aborted = { reason: request.signal?.reason };
      stream.close(NGHTTP2_CANCEL);
    };
    request.signal?.addEventListener('abort', onAbort, { once: true });
    // The stream is closed (ended both ways, reset, or its session gone): the exchange is over.
    stream.once('close', () => {
      request.signal?.removeEventListener('abort', onAbort);
      stop.abort();
      this.#live.delete(stream);
      this.#done(key, entry);
    });
    void this.#sendBody(stream, request.body, stop.signal).catch(() => {
      downstreamGone = true;
      stream.close(NGHTTP2_CANCEL);
    });
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const failure = (err: unknown): EndpointError => {
        if (aborted !== undefined) return endpointFailure(err, what, { requestSent: true, responseStarted }, { aborted });
        if (downstreamGone) return endpointFailure(err, what, { requestSent: true, responseStarted }, { downstreamGone });
        if (this.#closed) return new EndpointError('ERR_ENDPOINT_CLOSED', `upstream ${what}: endpoint client closed`, { requestSent: true, responseStarted });
        // A refused stream never reached the app: safe to retry whatever the method.
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM && !responseStarted) {
          return new EndpointError('ERR_ENDPOINT_RESET', `upstream ${what}: stream refused`, {
            requestSent: false,
            responseStarted,
            responseFlag: 'UR',
            cause: err,
          });
        }
        const sessionGone = session.destroyed || session.closed;
        return new EndpointError('ERR_ENDPOINT_RESET', `upstream ${what}: ${sessionGone ? 'connection closed' : `stream reset (code ${stream.rstCode})`}`, {
          requestSent: true,
          responseStarted,
          responseFlag: sessionGone ? 'UC' : 'UR',
          cause: err,
        });
      };
      // Errors are read at 'close' (rstCode, the session's state); this keeps an 'error' event
      // from crashing the process.
      stream.on('error', () => {});
      let resolveTrailers!: (t: Record<string, string>) => void;
      let rejectTrailers!: (e: EndpointError) => void;
      let trailers: Record<string, string> = {};
      let ended = false;
      let sawEnd = false;
      let abortedByPeer = false;
      // The body the caller reads: fed from the stream's 'data' from the response on, so nothing
      // the stream has buffered is lost, paced by the reader (pause/resume).
      const body = new Readable({
        highWaterMark: 64 * 1024,
        read: () => {
          stream.resume();
        },
        destroy: (err, callback) => {
          // The reader gave up (the downstream went away): cancel the call.
          if (!ended && !stream.closed) {
            downstreamGone = true;
            stream.close(NGHTTP2_CANCEL);
          }
          callback(err);
        },
      });
      body.on('error', () => {});
      stream.once('response', (h) => {
        responseStarted = true;
        const done = new Promise<Record<string, string>>((ok, fail) => {
          resolveTrailers = ok;
          rejectTrailers = fail;
        });
        done.catch(() => {});
        stream.on('data', (chunk: Buffer) => {
          if (!body.push(chunk)) stream.pause();
        });
        stream.once('trailers', (t) => {
          trailers = flattenTrailers(t as Record<string, string | string[] | undefined>);
        });
        // The end counts only once the stream closes cleanly: Node also ends the readable side
        // of a stream whose session died under it, which must read as a failure.
        stream.once('end', () => {
          sawEnd = true;
        });
        stream.once('aborted', () => {
          abortedByPeer = true;
        });
        const out: Record<string, string | string[] | undefined> = {};
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out[k] = v as string | string[] | undefined;
        resolve({ statusCode: Number(h[':status']), headers: downstreamResponseHeaders(out), body, trailers: done });
      });
      stream.once('close', () => {
        if (!responseStarted) return reject(failure(undefined));
        if (sawEnd && !abortedByPeer && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && !this.#closed) {
          ended = true;
          body.push(null);
          resolveTrailers(trailers);
          return;
        }
        const err = failure(undefined);
        rejectTrailers(err);
        if (!body.destroyed) body.destroy(err);
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#live) s.close(NGHTTP2_CANCEL);
    const sessions = [...this.#sessions.values(), ...this.#retired];
    this.#sessions.clear();
    this.#retired.clear();
    await Promise.all(
      sessions.map(async (e) => {
        this.#clearIdle(e);
        const s = await e.session.catch(() => undefined);
        s?.destroy();
      }),
    );
  }

  async #sendBody(stream: http2.ClientHttp2Stream, body: UpstreamRequest['body'], stop: AbortSignal): Promise<void> {
    if (body === null) return;
    if (Buffer.isBuffer(body)) {
      stream.end(body);
      return;
    }
    for await (const chunk of forwardBody(body as Readable, stop)) {
      if (stream.destroyed) return;
      if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
    }
    if (!stream.destroyed) stream.end();
  }

  #entry(key: string, endpoint: Endpoint): SessionEntry {
    let entry = this.#sessions.get(key);
    if (entry !== undefined) return entry;
    // The source (the waypoint's certificate) is read per session; none valid fails the request.
    const session = Promise.resolve()
      .then(() => this.#o.pool.connect(hboneConnectRequest(endpoint, this.#o.source())))
      .then((hbone: Duplex) => {
        const s = http2.connect(`http://${endpoint.address.ip}:${endpoint.address.port}`, {
          createConnection: () => hbone as never,
          settings: { maxConcurrentStreams: this.#o.maxConcurrentStreams },
        });
        s.on('error', () => {});
        // A session that ends (GOAWAY, the HBONE stream closed) is forgotten: the next request opens another.
        const forget = (): void => {
          if (this.#sessions.get(key) === created) this.#sessions.delete(key);
        };
        s.once('close', forget);
        s.once('goaway', forget);
        return s;
      });
    const created: SessionEntry = { session, active: 0, assigned: 0, idleTimer: undefined };
    session.catch(() => {
      if (this.#sessions.get(key) === created) this.#sessions.delete(key);
    });
    this.#sessions.set(key, created);
    entry = created;
    return entry;
  }

  #retire(key: string, entry: SessionEntry): void {
    if (this.#sessions.get(key) === entry) this.#sessions.delete(key);
    this.#retired.add(entry);
  }

  #done(key: string, entry: SessionEntry): void {
    entry.active--;
    if (entry.active > 0 || this.#closed) return;
    if (this.#retired.delete(entry)) {
      // Graceful: its streams are all over, so this only ends the session and its HBONE stream.
      void entry.session.then(
        (s) => s.close(),
        () => {},
      );
      return;
    }
    if (this.#sessions.get(key) !== entry) return;
    entry.idleTimer = this.#timers.setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.active > 0 || this.#sessions.get(key) !== entry) return;
      this.#sessions.delete(key);
      void entry.session.then(
        (s) => s.close(),
        () => {},
      );
    }, this.#o.idleTimeoutMs);
  }

  #clearIdle(entry: SessionEntry): void {
    if (entry.idleTimer === undefined) return;
    this.#timers.clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  }
}
