// What the upstream client is handed: the endpoint the balancer picked and the request the route
// built. Plain data, so routing and retry tests build them as literals.
import type { Readable } from 'node:stream';
import type { SocketAddress } from '@ambient/hbone';
import type { HeaderMap } from '../http/request-facts.ts';

/** What the destination app speaks: HTTP/1.1, or HTTP/2 without TLS (h2c; gRPC). */
export type EndpointProtocol = 'http1' | 'http2';

export interface Endpoint {
  /** The pod's ip and target port: the CONNECT `:authority` its ztunnel dials. */
  address: SocketAddress;
  /** Where its node's ztunnel accepts HBONE for it: the pod ip and 15008. */
  hboneAddress: SocketAddress;
  /** The pod's SPIFFE ID: the certificate on the other end must carry it. */
  identity: string;
  protocol: EndpointProtocol;
  /**
   * DestinationRule `connectionPool.http.maxRequestsPerConnection`: a connection (HTTP/1.1: an
   * HBONE stream; HTTP/2: a session) carries at most this many requests, then a new one is
   * opened. Absent or 0: no limit (1 turns keep-alive off).
   */
  maxRequestsPerConnection?: number;
}

/** The endpoint's maxRequestsPerConnection if it sets a limit (a positive integer), else undefined. */
export function requestsPerConnection(endpoint: Endpoint): number | undefined {
  const max = endpoint.maxRequestsPerConnection;
  return max !== undefined && Number.isInteger(max) && max > 0 ? max : undefined;
}

export interface UpstreamRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** Path and query as sent upstream (after any rewrite). */
  path: string;
  /** Host (HTTP/1.1) or :authority (HTTP/2) sent upstream. */
  authority: string;
  /** Lower-case names; hop-by-hop fields, pseudo-headers and `host` are dropped here, not by the caller. */
  headers: HeaderMap;
  body: Readable | Buffer | null;
  /** Aborts the exchange; a reason named 'TimeoutError' is reported as a timeout (UT), any other as the downstream gone (DC). */
  signal?: AbortSignal;
}

export type UpstreamHeaders = Record<string, string | string[]>;

export interface UpstreamResponse {
  statusCode: number;
  /** Lower-case names, connection-specific fields removed (so they can go out on HTTP/2). */
  headers: UpstreamHeaders;
  /**
   * Fails with an EndpointError if the exchange fails after the headers (read it with pipeline or
   * for-await: the error is also stored, as an 'error' event may come before any reader).
   * Destroying it aborts the exchange.
   */
  body: Readable;
  /** Resolves when the body has ended ({} without trailers); rejects with the body's error. */
  trailers: Promise<Record<string, string>>;
}
