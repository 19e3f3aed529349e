// What the waypoint's inbound side hands to the layers above for each CONNECT stream it serves.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { SocketAddress } from '@ambient/hbone';
import type { SourceFacts } from '../http/request-facts.ts';
import type { ServedProtocol } from './protocol-for-port.ts';

/**
 * A target the waypoint serves (a bound service's VIP:port, or a bound workload's ip:port) and
 * how. Callers extend it with what their layers need (the service, its routes), and get their
 * own type back in `InboundConnection.served`.
 */
export interface ServedTarget {
  protocol: ServedProtocol;
}

/** One CONNECT stream, as the HTTP and TCP handlers see it. */
export interface InboundConnection<T extends ServedTarget = ServedTarget> {
  /** The CONNECT `:authority`: the address the source addressed. */
  readonly target: SocketAddress;
  readonly source: SourceFacts;
  readonly served: T;
  /** What the stream is served as: the declared protocol, or the one detected. */
  readonly protocol: 'http1' | 'http2' | 'tcp';
  /** The CONNECT's own request headers (`traceparent`, `baggage`, `forwarded`). */
  readonly connectHeaders: Readonly<http2.IncomingHttpHeaders>;
}

/**
 * Node's own request and response objects: `IncomingMessage`/`ServerResponse` for HTTP/1.1,
 * the HTTP/2 compatibility API's `Http2ServerRequest`/`Http2ServerResponse` for h2c. Both have
 * method, url, headers, rawHeaders, a body stream, and setHeader/writeHead/write/end/
 * addTrailers; `conn.protocol` says which one it is where the difference matters (trailers
 * are sent only by HTTP/2 or chunked HTTP/1.1; HTTP/2 has no Connection header).
 */
export type WaypointRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type WaypointResponse = http.ServerResponse | http2.Http2ServerResponse;

/** A request the server answered itself, before `onRequest` (for access logs and metrics). */
export interface RejectedRequest<T extends ServedTarget = ServedTarget> {
  conn: InboundConnection<T>;
  /** 400 malformed, 408 headers too slow, 431 headers too large. */
  status: 400 | 408 | 431;
  /** Node's parser code (`HPE_INVALID_METHOD`, `HPE_HEADER_OVERFLOW`...) or ours. */
  reason: string;
}

export interface InboundLimits {
  /** Largest request header section: 431 above it (HTTP/1.1 and h2c). Default 16 KiB. */
  maxHeaderSize: number;
  /** From a request's first byte to its complete headers (HTTP/1.1): 408 after. Default 60 s. */
  headersTimeoutMs: number;
  /** A stream with no request in flight (HTTP/1.1 keep-alive, h2c with no open stream) is ended after it. Default 1 h. */
  idleTimeoutMs: number;
  /** How long an undeclared port waits for the client's first bytes before serving TCP. Default 100 ms. */
  sniffTimeoutMs: number;
  /** After the waypoint ends a stream, how long the client has to end its side before the stream is cut. Default 5 s. */
  lingerMs: number;
  /** How long close() lets in-flight requests and TCP streams finish. Default 5 s. */
  drainTimeoutMs: number;
}

export const defaultInboundLimits: Readonly<InboundLimits> = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 60_000,
  idleTimeoutMs: 3_600_000,
  sniffTimeoutMs: 100,
  lingerMs: 5_000,
  drainTimeoutMs: 5_000,
};

/** What the HTTP servers call; the same for HTTP/1.1 and h2c. */
export interface HttpHandlers<T extends ServedTarget = ServedTarget> {
  onRequest: (req: WaypointRequest, res: WaypointResponse, conn: InboundConnection<T>) => void | Promise<void>;
  onRejectedRequest?: ((rejected: RejectedRequest<T>) => void) | undefined;
}
