// The one report of a proxied connection, written once at the connection boundary (the inbound
// and outbound handlers), as istio/ztunnel's ConnectionResult: one structured access-log line
// and the Istio metrics, both from the same record and the same outcome table. The transport
// (@ambient/hbone) only hands records up; it never logs a connection itself.
import type { Logger } from 'pino';
import type { Service, Workload } from '@ambient/api';
import { connectionOutcomes, type ConnectionOutcome } from '@ambient/hbone';
import type { ConnectionLabels, ZtunnelMetrics } from '../metrics.ts';

export interface ConnectionReport {
  direction: 'outbound' | 'inbound';
  /** How the bytes travelled between the nodes: HBONE (mTLS) or plain TCP. */
  protocol: 'HBONE' | 'TCP';
  outcome: ConnectionOutcome;
  src: { addr: string; workload?: Workload | undefined; identity?: string | undefined };
  dst: {
    /** The original destination (outbound) or the CONNECT authority / pod address (inbound). */
    addr: string;
    /** Where the HBONE connection went (<pod>:15008 or a waypoint), outbound only. */
    hboneAddr?: string | undefined;
    workload?: Workload | undefined;
    service?: Service | undefined;
    identity?: string | undefined;
  };
  sent: number;
  received: number;
  durationMs: number;
  /** Why: the policy that denied, the route that was missing... */
  detail?: string | undefined;
  error?: string | undefined;
}

// Refused before there was a destination to report on: Istio's connection metrics leave such
// connections out (ztunnel's own refused counter has them).
const BEFORE_ANY_DESTINATION: ReadonlySet<ConnectionOutcome> = new Set<ConnectionOutcome>([
  'no_original_destination',
  'unknown_source',
  'no_route',
  'unknown_destination',
  'tls_handshake',
  'no_certificate',
  'handshake_timeout',
  'tls_version',
  'no_h2',
  'untrusted_chain',
  'bad_identity',
  'foreign_trust_domain',
]);

const RELAYED: ReadonlySet<ConnectionOutcome> = new Set<ConnectionOutcome>(['ok', 'reset', 'policy_closed']);

/** The access-log fields of a report (pure: the log line's shape is pinned by a test). */
export function accessLogFields(r: ConnectionReport): Record<string, unknown> {
  const row = connectionOutcomes[r.outcome];
  return {
    direction: r.direction,
    protocol: r.protocol,
    outcome: r.outcome,
    response_flags: row.responseFlags,
    ...(row.status !== undefined ? { status: row.status } : {}),
    src: endpoint(r.src.addr, r.src.workload, r.src.identity),
    dst: {
      ...endpoint(r.dst.addr, r.dst.workload, r.dst.identity),
      ...(r.dst.hboneAddr ? { hbone_addr: r.dst.hboneAddr } : {}),
      ...(r.dst.service ? { service: r.dst.service.hostname } : {}),
    },
    bytes_sent: r.sent,
    bytes_recv: r.received,
    duration_ms: Math.round(r.durationMs),
    ...(r.detail !== undefined ? { detail: r.detail } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}

/** Istio's connection labels for a report. */
export function connectionLabels(r: ConnectionReport): ConnectionLabels {
  const source = r.src.workload;
  const destination = r.dst.workload;
  return {
    reporter: r.direction === 'outbound' ? 'source' : 'destination',
    source_workload: source?.workloadName ?? source?.name ?? 'unknown',
    source_workload_namespace: source?.namespace ?? 'unknown',
    source_canonical_service: source?.canonicalName ?? 'unknown',
    source_canonical_revision: source?.canonicalRevision ?? 'unknown',
    source_principal: r.src.identity ?? 'unknown',
    destination_workload: destination?.workloadName ?? destination?.name ?? 'unknown',
    destination_workload_namespace: destination?.namespace ?? 'unknown',
    destination_canonical_service: destination?.canonicalName ?? 'unknown',
    destination_canonical_revision: destination?.canonicalRevision ?? 'unknown',
    destination_principal: r.dst.identity ?? 'unknown',
    destination_service: r.dst.service?.hostname ?? 'unknown',
    request_protocol: 'tcp',
    response_flags: connectionOutcomes[r.outcome].responseFlags,
    connection_security_policy: r.protocol === 'HBONE' ? 'mutual_tls' : 'unknown',
  };
}

export interface ReportSink {
  logger: Logger;
  metrics: ZtunnelMetrics;
}

/** Counts a connection opened when its relay starts, so live connections show in the metrics. */
export function reportOpened(sink: ReportSink, r: ConnectionReport): void {
  sink.metrics.connectionsOpened.inc(connectionLabels(r));
}

/** Writes the connection's one access-log line and its metrics (`opened`: reportOpened ran). */
export function reportConnection(sink: ReportSink, r: ConnectionReport, opened = false): void {
  const relayed = RELAYED.has(r.outcome);
  if (!relayed) sink.metrics.refused.inc({ direction: r.direction, reason: r.outcome });
  if (!BEFORE_ANY_DESTINATION.has(r.outcome)) {
    const labels = connectionLabels(r);
    if (!opened) sink.metrics.connectionsOpened.inc(labels);
    sink.metrics.sentBytes.inc(labels, r.sent);
    sink.metrics.receivedBytes.inc(labels, r.received);
    sink.metrics.connectionsClosed.inc(labels);
  }
  sink.logger.info(accessLogFields(r), relayed ? 'connection complete' : 'connection failed');
}

function endpoint(addr: string, workload: Workload | undefined, identity: string | undefined): Record<string, string> {
  const out: Record<string, string> = { addr };
  if (workload !== undefined) {
    out.workload = workload.workloadName || workload.name;
    out.namespace = workload.namespace;
  }
  if (identity !== undefined) out.identity = identity;
  return out;
}
