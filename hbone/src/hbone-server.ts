// Inbound HBONE (port 15008 in each pod's netns): mTLS with a client certificate from the mesh,
// HTTP/2 CONNECT streams, each authorized then relayed to the destination app.
//
// TLS is set up per accepted socket rather than by http2.createSecureServer so the certificate
// is looked up for every connection (a rotated certificate takes effect at once) and so the
// caller can hand over sockets from a listener it opened inside a pod's netns.
import crypto from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { parseSpiffeId, unrefTimers, type Timers } from '@ambient/api';
import { connectionOutcomes, type ConnectionOutcome, type RefusalStatusOutcome } from './connection-outcome.ts';
import { chainProblem, uriSans } from './peer-identity.ts';
import { relay, type RelayCounters, type RelayResult } from './relay.ts';
import { parseSocketAddress, type SocketAddress } from './socket-address.ts';

export interface InboundRequest {
  /** The CONNECT `:authority` as sent (`ip:port`). */
  authority: string;
  /** The authority parsed (`{ ip: '', port: 0 }` when it is not an ip:port: refused as bad_authority). */
  target: SocketAddress;
  /** The client's SPIFFE ID, proven by its certificate. */
  sourceIdentity: string;
  /** TCP peer address of the HBONE connection. */
  sourceAddress: string;
  headers: http2.IncomingHttpHeaders;
}

/** A refusal names its outcome; the outcome table decides the status the client gets. */
export type AuthorizeDecision = { allow: true } | { allow: false; outcome: RefusalStatusOutcome; detail: string };

/** One finished stream, refused or relayed: what the caller's access log line and metrics need. */
export interface InboundRecord {
  request: InboundRequest;
  outcome: ConnectionOutcome;
  /** The status answered (or, for client_gone, the table's 499). */
  status: number;
  /** Why, for a refusal or a close (names the policy, the unreachable address...). */
  detail?: string;
  sent: number;
  received: number;
  durationMs: number;
  error?: string;
}

export interface HboneServerOptions {
  /** The certificate to present (the destination workload's); called per connection. */
  context: (servername?: string) => tls.SecureContext;
  trustDomain: string;
  rootCertPem: string;
  /** The caller checks the authority is a local workload (400) and runs L4 policy (401). */
  authorize: (request: InboundRequest) => AuthorizeDecision | Promise<AuthorizeDecision>;
  connectUpstream: (target: SocketAddress, request: InboundRequest) => Promise<Duplex>;
  /** For failures of the server itself; connections and streams are reported through the callbacks. */
  logger: Logger;
  maxStreamsPerConnection?: number;
  /**
   * Bytes one stream may park in the proxy for a slow destination. It is the stream window we
   * advertise, so flow control enforces it; the relay resets a peer that ignores it.
   */
  maxBufferedBytes?: number;
  /** Connection-level receive window (large, for throughput: DESIGN). */
  windowSize?: number;
  handshakeTimeoutMs?: number;
  /**
   * A session that carries no stream for this long is closed (GOAWAY), default 120 s: twice the
   * pool's idle release, so a healthy client normally lets go first. 0 = never.
   */
  idleTimeoutMs?: number;
  /** Every session is PINGed this often (default 30 s; 0 = never)... */
  keepaliveIntervalMs?: number;
  /** ...and destroyed when a PING goes unanswered this long (default 10 s). */
  keepaliveTimeoutMs?: number;
  /** Idle and keepalive timers (default: real timers that never keep a draining process alive). */
  timers?: Timers;
  /** Clock for certificate validity (tests move it instead of waiting). */
  now?: () => number;
  /** One call per finished stream: the caller writes the access log line and metrics. */
  onStreamClosed?: (record: InboundRecord) => void;
  /** One call per connection refused before any stream (TLS, identity): the caller logs it. */
  onConnectionRefused?: (refusal: ConnectionRefusal) => void;
}

export interface ConnectionRefusal {
  outcome: ConnectionOutcome;
  /** TCP peer address. */
  peer: string;
  detail: string;
}

export interface HboneServerStats {
  connections: number;
  streams: number;
  /** Refusals by outcome (connection- and stream-level). */
  refused: Partial<Record<ConnectionOutcome, number>>;
  /** Sessions closed after carrying no stream for the idle timeout. */
  idleClosed: number;
  /** Sessions destroyed because a PING went unanswered. */
  keepaliveTimeouts: number;
}

/** A live relayed stream, so a policy change can re-check it and close it. */
export interface ActiveInbound {
  readonly request: InboundRequest;
  readonly counters: RelayCounters;
  readonly startedAt: number;
  /**
   * Cuts the stream; the record reports `outcome` with `detail`. A stream still being authorized
   * or dialed (live from the moment it is authorized, so a policy change cannot slip past it) is
   * refused instead: policy_closed answers `denied` (401), reset answers `unavailable` (503).
   */
  close(outcome: 'policy_closed' | 'reset', detail: string): void;
}

/** One client session: who it is, its open streams and its timers. */
interface Peer {
  identity: string;
  address: string;
  active: number;
  idleTimer: unknown;
  keepaliveTimer: unknown;
}

const MiB = 1024 * 1024;

/**
 * OpenSSL's verdict on the client's chain (signatures to the context's CA, dates, key usage and
 * the client-auth purpose), or undefined when it passed. A server-side TLSSocket made by hand,
 * as here (one per accepted socket, in whichever netns it was accepted), never gets Node's own
 * check: `authorized` stays false and `rejectUnauthorized` is ignored, because tls.Server runs
 * that check itself. So ask for the verdict the way tls.Server does; fail closed if it cannot be
 * read.
 */
function tlsVerifyError(socket: tls.TLSSocket): string | undefined {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'the tls verdict cannot be read';
  const err = handle.verifyError();
  return err ? (err.code ?? err.message) : undefined;
}

export class HboneServer {
  readonly stats: HboneServerStats = { connections: 0, streams: 0, refused: {}, idleClosed: 0, keepaliveTimeouts: 0 };
  readonly #options: HboneServerOptions;
  readonly #root: crypto.X509Certificate;
  readonly #h2: http2.Http2Server;
  readonly #peers = new WeakMap<http2.Http2Session, Peer>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #active = new Set<ActiveInbound>();
  readonly #listeners = new Set<net.Server>();
  readonly #maxStreams: number;
  readonly #maxBuffered: number;
  readonly #idleTimeoutMs: number;
  readonly #keepaliveIntervalMs: number;
  readonly #keepaliveTimeoutMs: number;
  readonly #timers: Timers;
  #handingOver: Peer | undefined;

  constructor(options: HboneServerOptions) {
    this.#options = options;
    this.#root = new crypto.X509Certificate(options.rootCertPem);
    this.#maxStreams = options.maxStreamsPerConnection ?? 100;
    this.#maxBuffered = options.maxBufferedBytes ?? 4 * MiB;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
    this.#keepaliveIntervalMs = options.keepaliveIntervalMs ?? 30_000;
    this.#keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 10_000;
    this.#timers = options.timers ?? unrefTimers;
    const windowSize = options.windowSize ?? 4 * MiB;
    // A plain (h2c) server fed with sockets we already secured and vetted.
    this.#h2 = http2.createServer({
      settings: { maxConcurrentStreams: this.#maxStreams, initialWindowSize: this.#maxBuffered, enablePush: false },
    });
    this.#h2.on('session', (session) => {
      const peer = this.#handingOver!;
      this.#peers.set(session, peer);
      this.#sessions.add(session);
      session.on('error', ignore);
      session.once('close', () => {
        this.#sessions.delete(session);
        this.#stopTimers(peer);
      });
      session.setLocalWindowSize(windowSize);
      this.#armIdle(session, peer);
      this.#scheduleKeepalive(session, peer);
    });
    this.#h2.on('stream', (stream, headers) => {
      // The last line for a stream: a rejection here would be unhandled, and end the process.
      this.#onStream(stream, headers).catch((err: unknown) => {
        this.#options.logger.error({ err }, 'hbone stream handler failed');
        stream.destroy();
      });
    });
  }

  /** HTTP/2 sessions (HBONE connections) open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  get activeStreams(): readonly ActiveInbound[] {
    return [...this.#active];
  }

  /** Serves an accepted TCP connection (from our own listener or one opened in a pod's netns). */
  handleConnection(raw: net.Socket): void {
    raw.on('error', ignore);
    const peer = raw.remoteAddress ?? '';
    let socket: tls.TLSSocket;
    try {
      socket = new tls.TLSSocket(raw, {
        isServer: true,
        secureContext: this.#options.context(),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      });
    } catch (err) {
      // No certificate to present (none issued yet, or expired without a refresh): refused,
      // never served with a stale one.
      raw.destroy();
      this.#reportRefusal('no_certificate', peer, (err as Error)?.message ?? String(err));
      return;
    }
    let refused = false;
    const refuse = (outcome: ConnectionOutcome, detail: string): void => {
      if (refused) return;
      refused = true;
      socket.destroy();
      this.#reportRefusal(outcome, peer, detail);
    };
    const onError = (err: Error): void => refuse('tls_handshake', err.message);
    socket.on('error', onError);
    socket.setTimeout(this.#options.handshakeTimeoutMs ?? 10_000, () => refuse('handshake_timeout', 'no tls handshake in time'));
    socket.once('secure', () => {
      socket.setTimeout(0);
      socket.off('error', onError);
      socket.on('error', ignore); // the HTTP/2 session reports its own socket's failures
      // A FIN on an HTTP/2 connection means the client is gone (streams half-close by END_STREAM).
      socket.once('end', () => socket.destroy());
      try {
        this.#vetAndServe(socket, peer, refuse);
      } catch (err) {
        // The last line: whatever throws while vetting a client (a certificate Node's parsers
        // choke on, a bug of ours) refuses this one connection. Thrown from an event handler it
        // would reach the process and take every other connection down with it.
        this.#options.logger.error({ err, peer }, 'hbone tls handler failed; connection refused');
        refuse('untrusted_chain', `client certificate could not be checked: ${(err as Error)?.message ?? String(err)}`);
        socket.destroy();
      }
    });
  }

  /** After the handshake: the client's chain, identity and trust domain, then HTTP/2. */
  #vetAndServe(socket: tls.TLSSocket, peer: string, refuse: (outcome: ConnectionOutcome, detail: string) => void): void {
    const vetted = this.#vet(socket);
    if (typeof vetted !== 'string') {
      refuse(vetted.outcome, vetted.detail);
      return;
    }
    this.stats.connections++;
    // What tls.Server does before 'secureConnection': the HTTP/2 session otherwise waits for
    // a 'secureConnect' that server-side sockets never emit.
    (socket as { secureConnecting?: boolean }).secureConnecting = false;
    // 'session' is emitted synchronously from 'connection', so this hands the peer over.
    this.#handingOver = { identity: vetted, address: peer, active: 0, idleTimer: undefined, keepaliveTimer: undefined };
    try {
      this.#h2.emit('connection', socket);
    } finally {
      this.#handingOver = undefined;
    }
  }

  /** The client's SPIFFE ID, or why it is refused. */
  #vet(socket: tls.TLSSocket): string | { outcome: ConnectionOutcome; detail: string } {
    if (socket.getProtocol() !== 'TLSv1.3') return { outcome: 'tls_version', detail: `negotiated ${String(socket.getProtocol())}` };
    if (socket.alpnProtocol !== 'h2') return { outcome: 'no_h2', detail: `alpn ${String(socket.alpnProtocol)}` };
    const cert = socket.getPeerCertificate(true);
    if (cert.raw === undefined) return { outcome: 'untrusted_chain', detail: 'no client certificate' };
    const verdict = tlsVerifyError(socket);
    if (verdict !== undefined) return { outcome: 'untrusted_chain', detail: `client certificate refused by tls verification: ${verdict}` };
    // A second line, with the injected clock: the chain to the mesh root and its dates.
    const chain = chainProblem(cert, this.#root, (this.#options.now ?? Date.now)());
    if (chain !== undefined) return { outcome: 'untrusted_chain', detail: chain };
    const sans = uriSans(cert.subjectaltname);
    const id = sans.length === 1 ? parseSpiffeId(sans[0]!) : undefined;
    if (id === undefined) return { outcome: 'bad_identity', detail: `client uri sans ${sans.join(',') || '(none)'} are not one workload spiffe id` };
    if (id.trustDomain !== this.#options.trustDomain) {
      return { outcome: 'foreign_trust_domain', detail: `client ${sans[0]} is not in trust domain ${this.#options.trustDomain}` };
    }
    return sans[0]!;
  }

  /** Counts a refused connection and tells the caller; a failing callback is logged, not thrown. */
  #reportRefusal(outcome: ConnectionOutcome, peer: string, detail: string): void {
    this.#count(outcome);
    try {
      this.#options.onConnectionRefused?.({ outcome, peer, detail });
    } catch (err) {
      this.#options.logger.error({ err, outcome, peer }, 'onConnectionRefused failed');
    }
  }

  /** Accepts on a net listener of our own (`{ port: 0, host }`, or `{ fd }` from the capture addon). */
  listen(options: net.ListenOptions): Promise<net.AddressInfo> {
    const server = net.createServer({ noDelay: true }, (raw) => this.handleConnection(raw));
    this.#listeners.add(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options, () => {
        server.off('error', reject);
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting and closes every connection (in-flight streams are cut). */
  async close(): Promise<void> {
    const closing = [...this.#listeners].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    this.#listeners.clear();
    for (const active of this.#active) active.close('reset', 'server closing');
    for (const session of this.#sessions) session.destroy();
    await Promise.all(closing);
  }

  // A client that keeps a connection it no longer uses (or forgot it) would hold the session,
  // its socket and its TLS state forever: close it, gracefully, once no stream has run for a while.
  #armIdle(session: http2.ServerHttp2Session, peer: Peer): void {
    if (this.#idleTimeoutMs <= 0 || session.closed || session.destroyed) return;
    if (peer.idleTimer !== undefined) this.#timers.clearTimeout(peer.idleTimer);
    peer.idleTimer = this.#timers.setTimeout(() => {
      peer.idleTimer = undefined;
      if (peer.active > 0 || session.closed || session.destroyed) return;
      this.stats.idleClosed++;
      session.close(); // GOAWAY: the pool retires the connection rather than open a stream on it
    }, this.#idleTimeoutMs);
  }

  // A client that vanished without a FIN or RST (a node gone, a NAT that forgot the flow) leaves
  // a session that TCP alone may not notice for many minutes; a PING that goes unanswered does.
  #scheduleKeepalive(session: http2.ServerHttp2Session, peer: Peer): void {
    if (this.#keepaliveIntervalMs <= 0) return;
    peer.keepaliveTimer = this.#timers.setTimeout(() => {
      peer.keepaliveTimer = undefined;
      if (session.closed || session.destroyed) return;
      let answered = false;
      const deadline = this.#timers.setTimeout(() => {
        peer.keepaliveTimer = undefined;
        if (answered || session.destroyed) return;
        this.stats.keepaliveTimeouts++;
        session.destroy();
      }, this.#keepaliveTimeoutMs);
      peer.keepaliveTimer = deadline;
      const sent = session.ping((err) => {
        answered = true;
        this.#timers.clearTimeout(deadline);
        if (peer.keepaliveTimer === deadline) peer.keepaliveTimer = undefined;
        if (err === null && !session.closed && !session.destroyed) this.#scheduleKeepalive(session, peer);
      });
      if (!sent) {
        // Not sent: the session is closing (it only ever has this one PING outstanding).
        answered = true;
        this.#timers.clearTimeout(deadline);
        peer.keepaliveTimer = undefined;
      }
    }, this.#keepaliveIntervalMs);
  }

  #stopTimers(peer: Peer): void {
    for (const timer of [peer.idleTimer, peer.keepaliveTimer]) {
      if (timer !== undefined) this.#timers.clearTimeout(timer);
    }
    peer.idleTimer = undefined;
    peer.keepaliveTimer = undefined;
  }

  #count(outcome: ConnectionOutcome): void {
    this.stats.refused[outcome] = (this.stats.refused[outcome] ?? 0) + 1;
  }

  async #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', ignore);
    // Read now: a closed stream no longer knows its session.
    const session = stream.session as http2.ServerHttp2Session;
    const peer = this.#peers.get(session);
    if (peer === undefined) return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    // Our own cap, not only nghttp2's: a client may open streams before it has our SETTINGS.
    if (peer.active >= this.#maxStreams) {
      this.#count('stream_refused');
      return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    }
    peer.active++;
    if (peer.idleTimer !== undefined) {
      this.#timers.clearTimeout(peer.idleTimer);
      peer.idleTimer = undefined;
    }
    stream.once('close', () => {
      peer.active--;
      if (peer.active === 0) this.#armIdle(session, peer);
    });
    this.stats.streams++;
    const started = Date.now();
    const authority = String(headers[':authority'] ?? '');
    const target = parseSocketAddress(authority);
    const request: InboundRequest = {
      authority,
      target: target ?? { ip: '', port: 0 },
      sourceIdentity: peer.identity,
      sourceAddress: peer.address,
      headers,
    };
    // Set once the stream is live (activeStreams); it leaves before it is reported, so a caller
    // counting live streams at each report (the waypoint's drain) sees it gone.
    let active: ActiveInbound | undefined;
    const finish = (outcome: ConnectionOutcome, result: Partial<RelayResult>, detail?: string): void => {
      if (active !== undefined) this.#active.delete(active);
      const record: InboundRecord = {
        request,
        outcome,
        status: connectionOutcomes[outcome].status ?? 0,
        sent: result.sent ?? 0,
        received: result.received ?? 0,
        durationMs: Date.now() - started,
      };
      if (detail !== undefined) record.detail = detail;
      if (result.error !== undefined) record.error = result.error.message;
      try {
        this.#options.onStreamClosed?.(record);
      } catch (err) {
        this.#options.logger.error({ err, outcome }, 'onStreamClosed failed');
      }
    };
    const reject = (outcome: RefusalStatusOutcome, detail: string): void => {
      this.#count(outcome);
      if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': connectionOutcomes[outcome].status }, { endStream: true });
      finish(outcome, {}, detail);
    };

    if (headers[':method'] !== 'CONNECT') return reject('not_connect', `method ${String(headers[':method'])} is not CONNECT`);
    if (target === undefined) return reject('bad_authority', `authority ${authority} is not an ip:port`);
    // Live from here, before authorization: a policy change that lands while this stream is
    // authorized or its upstream dialed re-checks it like a relayed one. Were it registered only
    // once relaying, a DENY landing in that window would miss it and it would be relayed anyway.
    const counters: RelayCounters = { sent: 0, received: 0 };
    let upstream: Duplex | undefined;
    let closedAs: { outcome: 'policy_closed' | 'reset'; detail: string } | undefined;
    active = {
      request,
      counters,
      startedAt: started,
      close: (outcome, detail) => {
        if (closedAs !== undefined) return;
        closedAs = { outcome, detail };
        // Not relaying yet: refuse now; the authorization or dial in flight sees closedAs and stops.
        if (upstream === undefined) return reject(outcome === 'policy_closed' ? 'denied' : 'unavailable', detail);
        // END_STREAM first: on these per-socket TLS sessions a lone RST_STREAM stays queued until
        // the session next writes, so the peer would not learn of the close (regression test
        // hbone-close.test.ts); the DATA frame is written at once and the reset follows it.
        stream.end();
        stream.close(http2.constants.NGHTTP2_CANCEL);
        upstream.destroy();
      },
    };
    const live = active;
    this.#active.add(live);
    try {
      let decision: AuthorizeDecision;
      try {
        decision = await this.#options.authorize(request);
      } catch (err) {
        if (closedAs !== undefined) return;
        return reject('unavailable', `authorization failed: ${(err as Error).message}`);
      }
      if (closedAs !== undefined) return;
      if (!decision.allow) return reject(decision.outcome, decision.detail);
      let connected: Duplex;
      try {
        connected = await this.#options.connectUpstream(target, request);
      } catch (err) {
        if (closedAs !== undefined) return;
        return reject('unavailable', `upstream ${authority} unreachable: ${(err as Error).message}`);
      }
      if (closedAs !== undefined || stream.destroyed || stream.closed) {
        connected.destroy();
        if (closedAs === undefined) finish('client_gone', {});
        return;
      }
      upstream = connected;
      stream.respond({ ':status': 200 });
      const result = await relay(stream, upstream, { counters, maxBufferedBytes: this.#maxBuffered + 64 * 1024 });
      // A close after the relay ended changes nothing: the record says how it really ended.
      const closed = closedAs as { outcome: 'policy_closed' | 'reset'; detail: string } | undefined;
      if (closed !== undefined) finish(closed.outcome, result, closed.detail);
      else finish(result.error === undefined ? 'ok' : 'reset', result);
    } finally {
      this.#active.delete(live);
    }
  }
}

export function createHboneServer(options: HboneServerOptions): HboneServer {
  return new HboneServer(options);
}

function ignore(): void {}
