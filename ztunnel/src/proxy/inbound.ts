// Traffic to a captured pod: HBONE on 15008 (mTLS, the peer's identity proven by its
// certificate) and plaintext redirected to 15006 (no identity: STRICT PeerAuthentication
// denies it). Both go through the same L4 authorization and reach the app from inside the
// pod's netns with ztunnel's mark. One access-log line per connection, written here.
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import { ports, ztunnelReservedPorts, type Timers, type Workload } from '@ambient/api';
import { createHboneServer, formatSocketAddress, relay, type HboneServer, type InboundRecord, type InboundRequest } from '@ambient/hbone';
import { originalDestination } from '../capture/netns-sockets.ts';
import type { ZtunnelMetrics } from '../metrics.ts';
import { IdentityError, type ProxyState } from '@ambient/api/proxy-runtime';
import { authorize, recheck, type ConnectionAttributes } from './authorize.ts';
import { reportConnection, reportOpened, type ConnectionReport } from './connection-report.ts';
import type { PodConnectionLimit } from './pod-connection-limit.ts';
import { dialFromPod, dialOptions, type CapturedPodRef } from './pod-socket.ts';

export interface InboundDeps {
  state: ProxyState;
  metrics: ZtunnelMetrics;
  logger: Logger;
  trustDomain: string;
  rootCertPem: string;
  /** How long a dial to the app may take (default 10 s); then 503 (HBONE) or unavailable. */
  connectTimeoutMs?: number;
  /** For the dial deadline and the HBONE server's idle and keepalive timers. */
  timers?: Timers;
}

const ownPortDetail = (port: number): string => `port ${port} is ztunnel's own in this pod: refused rather than connecting ztunnel to itself`;

/**
 * The HBONE server of one captured pod; `context` returns the pod's certificate valid now, or
 * undefined when there is none (not issued yet, expired without a refresh): that connection is
 * refused (no_certificate) rather than served an expired certificate. With `limit`, each stream
 * takes an inbound slot; over the cap it is answered 503 (pod_connection_limit).
 */
export function createPodHboneServer(
  deps: InboundDeps,
  pod: CapturedPodRef,
  context: () => tls.SecureContext | undefined,
  limit?: PodConnectionLimit,
): HboneServer {
  const sink = { logger: deps.logger.child({ pod: pod.uid }), metrics: deps.metrics };
  // No valid certificate: the HBONE server refuses the connection (outcome no_certificate) and
  // reports it through onConnectionRefused like any other refusal.
  const refusedWithoutCertificate = (): never => {
    const identity = deps.state.workloadByUid(pod.uid)?.identity ?? `pod ${pod.uid}`;
    throw new IdentityError('ERR_CERT_UNAVAILABLE', `no valid certificate for ${identity} (not issued yet, or expired without a refresh)`);
  };
  // The streams holding a slot, so each gives it back exactly once, when it is reported closed.
  const holding = new Set<InboundRequest>();
  return createHboneServer({
    ...(deps.timers ? { timers: deps.timers } : {}),
    context: () => context() ?? refusedWithoutCertificate(),
    trustDomain: deps.trustDomain,
    rootCertPem: deps.rootCertPem,
    logger: sink.logger,
    authorize: (req) => {
      // First, before any policy work: the cap is what protects that work from a flood.
      if (limit !== undefined) {
        if (!limit.tryAcquire('inbound')) return { allow: false, outcome: 'pod_connection_limit', detail: `pod ${pod.uid} is at its inbound connection limit` };
        holding.add(req);
      }
      const destination = deps.state.workloadByUid(pod.uid);
      if (req.target.ip !== pod.ip || !destination)
        return { allow: false, outcome: 'unknown_destination', detail: `${req.authority} is not a workload in this pod` };
      if (ztunnelReservedPorts.has(req.target.port)) return { allow: false, outcome: 'own_port', detail: ownPortDetail(req.target.port) };
      const decision = authorize(deps.state, {
        sourceIdentity: req.sourceIdentity,
        sourceIp: req.sourceAddress,
        destinationWorkload: destination,
        destinationIp: pod.ip,
        destinationPort: req.target.port,
      });
      return decision.allow ? { allow: true } : { allow: false, outcome: 'denied', detail: decision.reason };
    },
    connectUpstream: (target) => dialFromPod(pod, { ip: pod.ip, port: target.port }, dialOptions(deps)),
    onStreamClosed: (record: InboundRecord) => {
      if (holding.delete(record.request)) limit?.release('inbound');
      // Counted and logged per burst by the limit (tryAcquire), not one access-log line each.
      if (record.outcome === 'pod_connection_limit') return;
      const destination = deps.state.workloadByUid(pod.uid);
      reportConnection(sink, {
        direction: 'inbound',
        protocol: 'HBONE',
        outcome: record.outcome,
        src: { addr: record.request.sourceAddress, workload: deps.state.workloadByIp(record.request.sourceAddress), identity: record.request.sourceIdentity },
        dst: { addr: record.request.authority, workload: destination, identity: destination?.identity },
        sent: record.sent,
        received: record.received,
        durationMs: record.durationMs,
        detail: record.detail,
        error: record.error,
      });
    },
    onConnectionRefused: (refusal) => {
      reportConnection(sink, {
        direction: 'inbound',
        protocol: 'HBONE',
        outcome: refusal.outcome,
        src: { addr: refusal.peer },
        dst: { addr: formatSocketAddress({ ip: pod.ip, port: ports.hbone }) },
        sent: 0,
        received: 0,
        durationMs: 0,
        detail: refusal.detail,
      });
    },
  });
}

/**
 * Live plaintext inbound connections, for re-checking them when policy changes: from the moment
 * they are authorized, so one still dialing the app is re-checked too (and then refused as denied).
 */
export interface PlaintextConnection {
  attributes: ConnectionAttributes;
  socket: net.Socket;
  /** Set when a policy change closes it, so its report says why. */
  closedBy?: string;
}

/** A plaintext connection redirected to 15006 in the pod's netns. */
export async function handleInboundPlaintext(deps: InboundDeps, pod: CapturedPodRef, downstream: net.Socket, live: Set<PlaintextConnection>): Promise<void> {
  let port: number | Error;
  try {
    port = originalDestination(downstream).port;
  } catch (err) {
    port = err as Error;
  }
  return serveInboundPlaintext(deps, pod, downstream, port, live);
}

/** The plaintext inbound path once the original destination port is known (or why it is not). */
export async function serveInboundPlaintext(
  deps: InboundDeps,
  pod: CapturedPodRef,
  downstream: net.Socket,
  port: number | Error,
  live: Set<PlaintextConnection>,
): Promise<void> {
  const started = performance.now();
  downstream.on('error', () => undefined);
  const sink = { logger: deps.logger.child({ pod: pod.uid }), metrics: deps.metrics };
  const sourceIp = downstream.remoteAddress ?? '';
  const destination = deps.state.workloadByUid(pod.uid);
  const report: ConnectionReport = {
    direction: 'inbound',
    protocol: 'TCP',
    outcome: 'ok',
    src: { addr: formatSocketAddress({ ip: sourceIp, port: downstream.remotePort ?? 0 }), workload: deps.state.workloadByIp(sourceIp) },
    dst: { addr: pod.ip, workload: destination, identity: destination?.identity },
    sent: 0,
    received: 0,
    durationMs: 0,
  };
  const fail = (outcome: ConnectionReport['outcome'], detail: string, error?: string): void => {
    downstream.destroy();
    reportConnection(sink, { ...report, outcome, detail, error, durationMs: performance.now() - started });
  };
  if (port instanceof Error) return fail('no_original_destination', String(port));
  report.dst.addr = formatSocketAddress({ ip: pod.ip, port });
  if (ztunnelReservedPorts.has(port)) return fail('own_port', ownPortDetail(port));
  if (!destination) return fail('unknown_destination', `pod ${pod.uid} is not a known workload`);
  const attributes: ConnectionAttributes = { sourceIp, destinationWorkload: destination, destinationIp: pod.ip, destinationPort: port };
  const decision = authorize(deps.state, attributes);
  if (!decision.allow) return fail('denied', decision.reason);
  // Live in the same tick as the decision, before the dial: a policy change that lands while
  // the app is dialed re-checks it too, instead of missing it and letting it be relayed.
  const entry: PlaintextConnection = { attributes, socket: downstream };
  live.add(entry);
  let upstream: net.Socket;
  try {
    upstream = await dialFromPod(pod, { ip: pod.ip, port }, dialOptions(deps));
  } catch (err) {
    live.delete(entry);
    if (entry.closedBy !== undefined) return fail('denied', entry.closedBy);
    return fail('unavailable', `app ${report.dst.addr} unreachable`, String(err));
  }
  if (entry.closedBy !== undefined) {
    live.delete(entry);
    upstream.destroy();
    return fail('denied', entry.closedBy);
  }
  reportOpened(sink, report);
  const result = await relay(downstream, upstream);
  live.delete(entry);
  reportConnection(
    sink,
    {
      ...report,
      outcome: entry.closedBy !== undefined ? 'policy_closed' : result.error ? 'reset' : 'ok',
      detail: entry.closedBy,
      sent: result.sent,
      received: result.received,
      durationMs: performance.now() - started,
      error: result.error?.message,
    },
    true,
  );
}

/**
 * After a policy change: closes the live plaintext connections to `destination` (the pod's
 * workload as the state now has it) that the policy no longer allows. Returns how many.
 */
export function recheckPlaintext(state: ProxyState, destination: Workload, live: Iterable<PlaintextConnection>): number {
  const entries = [...live].map((p) => ({ ...p.attributes, destinationWorkload: destination, entry: p }));
  let closed = 0;
  for (const { connection, decision } of recheck(state, entries)) {
    connection.entry.closedBy = decision.reason;
    connection.entry.socket.destroy();
    closed++;
  }
  return closed;
}
