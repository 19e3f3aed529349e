// The waypoint's upstream client: sends a routed request to the endpoint the balancer picked,
// over HBONE to that pod's ztunnel, through an undici Pool per endpoint whose connections are
// pooled HBONE streams (hbone-connector.ts).
//
// HTTP/1.1: one HBONE stream per undici connection, kept alive between requests (undici's
// keep-alive timeout, shortened by the endpoint's Keep-Alive hint, closes it when idle).
// HTTP/2 (h2c, gRPC): Node's http2 client, one session per endpoint on an HBONE stream, up to
// maxConcurrentStreams requests on it (h2-upstream.ts says why not undici).
//
// undici's timeouts are off: the route's timeout policy owns time and aborts through the signal.
// Its Pools live in a map by endpoint; one left without requests for idleTimeoutMs (injected
// timers) is closed and forgotten, so endpoints that leave the mesh do not accumulate.
import type { Duplex } from 'node:stream';
import { unrefTimers, type Timers } from '@ambient/api';
import { formatSocketAddress, type HbonePool, type HboneSource } from '@ambient/hbone';
import { Pool } from 'undici';
import { requestsPerConnection, type Endpoint, type UpstreamRequest, type UpstreamResponse } from './endpoint.ts';
import { EndpointError, endpointFailure } from './endpoint-error.ts';
import { hboneConnector, hboneConnectRequest } from './hbone-connector.ts';
import { H2Upstream } from './h2-upstream.ts';
import { UpstreamExchange } from './upstream-exchange.ts';
import { upstreamRequestHeaders } from './upstream-headers.ts';

export interface EndpointClientOptions {
  pool: HbonePool;
  /** The waypoint's own certificate (read per HBONE connection, so a rotation takes effect). */
  source: () => HboneSource;
  /** For the idle eviction of per-endpoint pools. Default: real timers that do not hold the process. */
  timers?: Timers;
  /** Connections (HBONE streams) per endpoint; HTTP/1.1 needs one per concurrent request. Default 1024 (Envoy's default max_connections). */
  maxConnectionsPerEndpoint?: number;
  /** Requests per HTTP/2 session before another connection is opened. Default 100. */
  maxConcurrentStreams?: number;
  /** An endpoint's pool unused this long is closed. Default 60 s. */
  idleTimeoutMs?: number;
  /** How long an idle HTTP/1.1 connection is kept when the endpoint gives no Keep-Alive hint. Default 4 s (undici's). */
  keepAliveTimeoutMs?: number;
}

interface EndpointEntry {
  readonly key: string;
  readonly dispatcher: Pool;
  /** Exchanges undici has not finished with (queued, connecting, or in flight). */
  readonly exchanges: Set<UpstreamExchange>;
  idleTimer: unknown;
}

export class EndpointClient {
  readonly #pool: HbonePool;
  readonly #source: () => HboneSource;
  readonly #timers: Timers;
  readonly #maxConnections: number;
  readonly #maxConcurrentStreams: number;
  readonly #idleTimeoutMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #entries = new Map<string, EndpointEntry>();
  readonly #h2: H2Upstream;
  #closed = false;

  constructor(options: EndpointClientOptions) {
    this.#pool = options.pool;
    this.#source = options.source;
    this.#timers = options.timers ?? unrefTimers;
    this.#maxConnections = options.maxConnectionsPerEndpoint ?? 1024;
    this.#maxConcurrentStreams = options.maxConcurrentStreams ?? 100;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 4_000;
    this.#h2 = new H2Upstream({
      pool: this.#pool,
      source: this.#source,
      timers: this.#timers,
      idleTimeoutMs: this.#idleTimeoutMs,
      maxConcurrentStreams: this.#maxConcurrentStreams,
    });
  }

  /** Endpoints with a live pool (in use, or idle for less than idleTimeoutMs). */
  get endpointCount(): number {
    return this.#entries.size + this.#h2.sessionCount;
  }

  /** Resolves at the response headers; rejects with an EndpointError if the exchange fails before them. */
  request(endpoint: Endpoint, request: UpstreamRequest): Promise<UpstreamResponse> {
    const what = `${request.method} ${request.authority}${request.path} via ${formatSocketAddress(endpoint.address)}`;
    if (this.#closed) return Promise.reject(new EndpointError('ERR_ENDPOINT_CLOSED', `upstream ${what}: endpoint client closed`));
    if (request.signal?.aborted === true) {
      return Promise.reject(endpointFailure(undefined, what, { requestSent: false, responseStarted: false }, { aborted: { reason: request.signal.reason } }));
    }
    if (endpoint.protocol === 'http2') return this.#h2.request(endpointKey(endpoint), endpoint, request, what);
    const entry = this.#acquire(endpoint);
    const exchange = new UpstreamExchange(request, what, () => this.#release(entry, exchange));
    entry.exchanges.add(exchange);
    // Errors, even synchronous ones, reach the exchange as onResponseError.
    entry.dispatcher.dispatch(
      {
        method: request.method,
        path: request.path,
        headers: upstreamRequestHeaders(request.headers, request.authority),
        // undici takes (async) iterables, though its DispatchOptions type omits them.
        body: exchange.requestBody as Buffer | null,
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      exchange,
    );
    return exchange.response;
  }

  /** An HBONE stream to the endpoint for L4 (non-HTTP) traffic. */
  async connectTcp(endpoint: Endpoint): Promise<Duplex> {
    const what = `tcp ${formatSocketAddress(endpoint.address)}`;
    if (this.#closed) throw new EndpointError('ERR_ENDPOINT_CLOSED', `upstream ${what}: endpoint client closed`);
    try {
      return await this.#pool.connect(hboneConnectRequest(endpoint, this.#source()));
    } catch (err) {
      throw endpointFailure(err, what, { requestSent: false, responseStarted: false });
    }
  }

  /** Closes every endpoint's connections; requests in flight fail with ERR_ENDPOINT_CLOSED. The HBONE pool is the caller's. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#h2.close();
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(
      entries.map((entry) => {
        this.#clearIdle(entry);
        // Each running exchange is aborted first: undici 8.12.4 asserts (and so throws an
        // uncaught exception) when an HTTP/2 client is destroyed with streams still running.
        for (const exchange of [...entry.exchanges]) {
          exchange.cancel(new EndpointError('ERR_ENDPOINT_CLOSED', `upstream ${exchange.what}: endpoint client closed`));
        }
        return entry.dispatcher.destroy().catch(ignore);
      }),
    );
  }

  #acquire(endpoint: Endpoint): EndpointEntry {
    const key = endpointKey(endpoint);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const h2c = endpoint.protocol === 'http2';
      const options: Pool.Options & { useH2c?: boolean } = {
        connect: hboneConnector(this.#pool, this.#source, endpoint),
        connections: this.#maxConnections,
        allowH2: h2c,
        // The connector's ALPN mark is what selects HTTP/2. The Pool reads this (undeclared in
        // its types) to wait for the first session instead of opening one per queued request.
        useH2c: h2c,
        h2Options: { maxConcurrentStreams: this.#maxConcurrentStreams },
        keepAliveTimeout: this.#keepAliveTimeoutMs,
        headersTimeout: 0,
        bodyTimeout: 0,
      };
      // undici sends `connection: close` on a connection's last request and then opens another.
      const maxRequests = requestsPerConnection(endpoint);
      if (maxRequests !== undefined) options.maxRequestsPerClient = maxRequests;
      const dispatcher = new Pool(`http://${formatSocketAddress(endpoint.address)}`, options);
      entry = { key, dispatcher, exchanges: new Set(), idleTimer: undefined };
      this.#entries.set(key, entry);
    }
    this.#clearIdle(entry);
    return entry;
  }

  #release(entry: EndpointEntry, exchange: UpstreamExchange): void {
    entry.exchanges.delete(exchange);
    if (entry.exchanges.size > 0 || this.#closed || this.#entries.get(entry.key) !== entry) return;
    entry.idleTimer = this.#timers.setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.exchanges.size > 0 || this.#entries.get(entry.key) !== entry) return;
      this.#entries.delete(entry.key);
      // Graceful: nothing is in flight, so this only closes idle HBONE streams.
      entry.dispatcher.close().catch(ignore);
    }, this.#idleTimeoutMs);
  }

  #clearIdle(entry: EndpointEntry): void {
    if (entry.idleTimer === undefined) return;
    this.#timers.clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  }
}

/**
 * One pool per (protocol, identity, HBONE address, target address, requests per connection): what
 * a connection to it can carry. A changed maxRequestsPerConnection makes a new pool; the old one
 * finishes its requests and closes when idle.
 */
export function endpointKey(endpoint: Endpoint): string {
  const key = `${endpoint.protocol}|${endpoint.identity}|${formatSocketAddress(endpoint.hboneAddress)}|${formatSocketAddress(endpoint.address)}`;
  const max = requestsPerConnection(endpoint);
  return max === undefined ? key : `${key}|${max}`;
}

function ignore(): void {}
