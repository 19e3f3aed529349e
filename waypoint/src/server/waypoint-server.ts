// The waypoint's inbound side: HBONE on 15008 (mTLS, HTTP/2 CONNECT, from the source ztunnels),
// then inside each CONNECT stream the protocol the target port declares, or the one its first
// bytes show: HTTP/1.1 and h2c go to one shared http.Server and one shared http2.Server (Node
// servers that never listen, fed a stream per CONNECT), anything else to onTcp as bytes.
//
// The HBONE server relays a CONNECT stream to the Duplex that connectUpstream returns; here that
// is one end of an in-process pipe (pipe-end.ts) whose other end the HTTP servers read: one
// extra in-memory copy per chunk, the price of reusing the HBONE server as it is.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { ports, type Timers, unrefTimers } from '@ambient/api';
import {
  type AuthorizeDecision,
  type ConnectionRefusal,
  createHboneServer,
  type HboneServer,
  type HboneServerOptions,
  type InboundRecord,
  type InboundRequest,
  relay,
  type SocketAddress,
} from '@ambient/hbone';
import type { Logger } from 'pino';
import { endGracefully } from './end-gracefully.ts';
import { Http1Inbound } from './http1-inbound.ts';
import { Http2Inbound } from './http2-inbound.ts';
import { defaultInboundLimits, type HttpHandlers, type InboundConnection, type InboundLimits, type ServedTarget } from './inbound-connection.ts';
import { InboundStreamError } from './inbound-stream-error.ts';
import { PipeEnd } from './pipe-end.ts';
import { httpCodec, sniffProtocol } from './sniff-protocol.ts';
import { sourceFacts } from './source-facts.ts';

export interface WaypointServerOptions<T extends ServedTarget = ServedTarget> extends HttpHandlers<T> {
  /** The waypoint's certificate; called per HBONE connection, so a rotated one applies at once. */
  context: () => tls.SecureContext;
  trustDomain: string;
  rootCertPem: string;
  logger: Logger;
  /** Default: every address, port 15008. */
  listen?: { host?: string; port?: number };
  /** What the waypoint serves at a CONNECT authority; undefined refuses it (400 unknown_destination). */
  resolve: (target: SocketAddress) => T | undefined;
  /** A stream served as opaque TCP (declared, or not HTTP): the callee owns it from here. */
  onTcp: (stream: Duplex, conn: InboundConnection<T>) => void;
  limits?: Partial<InboundLimits>;
  /** Default: real timers that do not keep the process alive. */
  timers?: Timers;
  /** One call per finished CONNECT stream, refused or served: the access log line and L4 metrics. */
  onStreamClosed?: (record: InboundRecord) => void;
  /** One call per HBONE connection refused before any stream (TLS, identity). */
  onConnectionRefused?: (refusal: ConnectionRefusal) => void;
  /** HBONE tuning passed through (stream cap, windows, handshake timeout, certificate clock). */
  hbone?: Pick<HboneServerOptions, 'maxStreamsPerConnection' | 'maxBufferedBytes' | 'windowSize' | 'handshakeTimeoutMs' | 'now'>;
}

/** A CONNECT stream the waypoint serves, until it closes. */
interface LiveStream {
  /** Finish what is in flight, then end. Replaced as the stream moves from sniffing to serving. */
  drain: () => void;
}

export class WaypointServer<T extends ServedTarget = ServedTarget> {
  readonly hbone: HboneServer;
  readonly #options: WaypointServerOptions<T>;
  readonly #limits: InboundLimits;
  readonly #timers: Timers;
  readonly #http1: Http1Inbound<T>;
  readonly #http2: Http2Inbound<T>;
  readonly #served = new WeakMap<InboundRequest, T>();
  readonly #live = new Map<PipeEnd, LiveStream>();
  readonly #listener: net.Server;
  #draining = false;
  #closed: Promise<void> | undefined;
  #onQuiet: (() => void) | undefined;

  constructor(options: WaypointServerOptions<T>) {
    this.#options = options;
    this.#limits = { ...defaultInboundLimits, ...options.limits };
    this.#timers = options.timers ?? unrefTimers;
    const http = {
      limits: this.#limits,
      timers: this.#timers,
      logger: options.logger,
      onRequest: options.onRequest,
      onRejectedRequest: options.onRejectedRequest,
    };
    this.#http1 = new Http1Inbound<T>(http);
    this.#http2 = new Http2Inbound<T>(http);
    this.hbone = createHboneServer({
      ...options.hbone,
      context: options.context,
      trustDomain: options.trustDomain,
      rootCertPem: options.rootCertPem,
      logger: options.logger,
      authorize: (request) => this.#authorize(request),
      connectUpstream: async (target, request) => this.#accept(target, request),
      onStreamClosed: (record) => {
        options.onStreamClosed?.(record);
        this.#checkQuiet();
      },
      ...(options.onConnectionRefused !== undefined ? { onConnectionRefused: options.onConnectionRefused } : {}),
    });
    // Our own listener rather than HboneServer.listen: close() must stop accepting without
    // cutting the streams it is about to drain.
    this.#listener = net.createServer((raw) => this.hbone.handleConnection(raw));
  }

  /** Where the HBONE listener accepts (after listen()). */
  get address(): net.AddressInfo {
    return this.#listener.address() as net.AddressInfo;
  }

  /** Streams being served (sniffing, HTTP or TCP). */
  get liveStreams(): number {
    return this.#live.size;
  }

  /** Starts the HBONE listener: at `at`, else the options' `listen` (default every address, 15008). */
  listen(at?: { host?: string; port?: number }): Promise<net.AddressInfo> {
    const { host, port = ports.hbone } = at ?? this.#options.listen ?? {};
    return new Promise((resolve, reject) => {
      this.#listener.once('error', reject);
      this.#listener.listen({ host, port }, () => {
        this.#listener.off('error', reject);
        resolve(this.#listener.address() as net.AddressInfo);
      });
    });
  }

  /**
   * Serves a connection that did not come over HBONE (a sidecar's captured outbound one) as if it
   * were a CONNECT stream: `request` says who sent it (the pod's proven identity and address)
   * and where to. False, with `stream` untouched, when the target is not served here or the
   * server is draining: the caller decides what else to do with it.
   */
  serveStream(stream: Duplex, request: InboundRequest): boolean {
    if (!this.#authorize(request).allow) return false;
    void relay(stream, this.#accept(request.target, request));
    return true;
  }

  /**
   * Stops accepting, refuses new CONNECTs (503), lets in-flight requests finish (HTTP/1.1 answers
   * `connection: close`, h2c sessions get GOAWAY, idle streams end at once), cuts whatever is
   * still open after drainTimeoutMs, then closes the HBONE connections.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#draining = true;
    const stopped = new Promise<void>((resolve) => this.#listener.close(() => resolve()));
    for (const live of [...this.#live.values()]) live.drain();
    await new Promise<void>((resolve) => {
      const deadline = this.#timers.setTimeout(() => {
        this.#onQuiet = undefined;
        resolve();
      }, this.#limits.drainTimeoutMs);
      this.#onQuiet = () => {
        this.#timers.clearTimeout(deadline);
        resolve();
      };
      this.#checkQuiet();
    });
    const cut = new InboundStreamError(
      'ERR_WAYPOINT_DRAIN_TIMEOUT',
      `the waypoint closed and the stream was still open after ${this.#limits.drainTimeoutMs} ms`,
    );
    for (const end of [...this.#live.keys()]) end.destroy(cut);
    // Let the relays pass on the last bytes and END_STREAMs before the sessions go.
    await new Promise((resolve) => setImmediate(resolve));
    await this.hbone.close();
    await stopped;
  }

  /** Drained: no stream of ours open and every HBONE relay finished. */
  #checkQuiet(): void {
    if (this.#onQuiet === undefined || this.#live.size > 0 || this.hbone.activeStreams.length > 0) return;
    const quiet = this.#onQuiet;
    this.#onQuiet = undefined;
    quiet();
  }

  #authorize(request: InboundRequest): AuthorizeDecision {
    if (this.#draining) return { allow: false, outcome: 'unavailable', detail: 'the waypoint is draining' };
    const served = this.#options.resolve(request.target);
    if (served === undefined) {
      return { allow: false, outcome: 'unknown_destination', detail: `${request.authority} is not a service or workload this waypoint serves` };
    }
    this.#served.set(request, served);
    return { allow: true };
  }

  #accept(target: SocketAddress, request: InboundRequest): Duplex {
    const served = this.#served.get(request)!;
    const source = sourceFacts(request);
    if (source === undefined) throw new InboundStreamError('ERR_WAYPOINT_BAD_SOURCE', `source identity ${request.sourceIdentity} is not a workload spiffe id`);
    const [upstream, end] = PipeEnd.pair();
    const live: LiveStream = { drain: () => {} };
    this.#live.set(end, live);
    end.once('close', () => {
      this.#live.delete(end);
      this.#checkQuiet();
    });
    end.on('error', ignore); // our own cuts; the HBONE record reports them
    const connection = (protocol: InboundConnection['protocol']): InboundConnection<T> => ({
      target,
      source,
      served,
      protocol,
      connectHeaders: request.headers,
    });
    if (served.protocol === 'tcp') {
      this.#serveTcp(end, connection('tcp'));
      return upstream;
    }
    this.#sniff(end, served.protocol === 'detect', live, (protocol, arrived) => {
      const conn = connection(protocol);
      if (protocol === 'http1') live.drain = this.#http1.serve(end, conn, arrived);
      else if (protocol === 'http2') live.drain = this.#http2.serve(end, conn);
      else this.#serveTcp(end, conn);
      if (this.#draining) live.drain();
    });
    return upstream;
  }

  /** TCP streams are not drained (there is no request boundary): they run until the drain deadline. */
  #serveTcp(end: PipeEnd, conn: InboundConnection<T>): void {
    try {
      this.#options.onTcp(end, conn);
    } catch (err) {
      this.#options.logger.error({ err }, 'waypoint: tcp handler failed');
      end.destroy();
    }
  }

  /**
   * Looks at the first bytes without consuming them. `detect`: HTTP/2 preface, HTTP/1.x request
   * line, else TCP (also when nothing decides within sniffTimeoutMs). A port declared HTTP only
   * picks the codec, and waits for the client as long as an idle stream may.
   */
  #sniff(end: PipeEnd, detect: boolean, live: LiveStream, serve: (protocol: 'http1' | 'http2' | 'tcp', arrived: boolean) => void): void {
    let bytes: Buffer | undefined;
    let done = false;
    const decide = (ended: boolean): 'http1' | 'http2' | 'tcp' | undefined => {
      const seen = bytes ?? Buffer.alloc(0);
      return detect ? sniffProtocol(seen, ended) : httpCodec(seen, ended);
    };
    const finish = (protocol: 'http1' | 'http2' | 'tcp'): void => {
      if (done) return;
      done = true;
      end.observe(undefined);
      this.#timers.clearTimeout(timer);
      serve(protocol, bytes !== undefined);
    };
    end.observe((chunk) => {
      if (chunk === null) return finish(decide(true)!);
      // Only the first 24 bytes ever matter (the HTTP/2 preface).
      bytes = bytes === undefined ? chunk : Buffer.concat([bytes, chunk.subarray(0, 24)]);
      const protocol = decide(false);
      if (protocol !== undefined) finish(protocol);
    });
    // Nothing was served yet: drop what the client sends and end the stream.
    const abandon = (): void => {
      if (done) return;
      done = true;
      end.observe(undefined);
      this.#timers.clearTimeout(timer);
      end.resume();
      endGracefully(end, this.#timers, this.#limits.lingerMs);
    };
    // Declared HTTP and silent for the whole idle timeout: nothing to serve.
    const timer = detect
      ? this.#timers.setTimeout(() => finish(decide(true)!), this.#limits.sniffTimeoutMs)
      : this.#timers.setTimeout(abandon, this.#limits.idleTimeoutMs);
    end.once('close', () => this.#timers.clearTimeout(timer));
    live.drain = abandon;
  }
}

/** Starts the waypoint's HBONE listener (15008 by default) and resolves once it accepts. */
export async function startWaypointServer<T extends ServedTarget = ServedTarget>(options: WaypointServerOptions<T>): Promise<WaypointServer<T>> {
  const server = new WaypointServer<T>(options);
  await server.listen();
  return server;
}

function ignore(): void {}
