// The one report of a request, written once when it ends (the server boundary calls it), as
// ztunnel's connection report is: the Istio metrics and one structured access-log line, both
// from the same record and the same response-flag table. Layers below only fill the record.
//
// The line's field names are Envoy's/Istio's JSON access-log names where one exists (method,
// path, protocol, response_code, response_flags, response_code_details, bytes_received,
// bytes_sent, duration, request_id, authority, upstream_host, route_name, user_agent, start_time),
// and the metric label names for the peers, so a line and a series read alike.
import type { Logger } from 'pino';
import { grpcStatusLabel } from './istio-labels.ts';
import type { RequestRecord, TcpConnectionRecord, TrafficPeers } from './request-record.ts';
import { formatResponseFlags, rbacAccessDenied } from './response-flags.ts';
import type { WaypointMetrics } from './waypoint-metrics.ts';

/** The access-log fields of a request (pure: the line's shape is pinned by a test). */
export function accessLogFields(r: RequestRecord): Record<string, unknown> {
  const details = r.responseCodeDetails ?? (r.denied !== undefined ? rbacAccessDenied(r.denied.policy) : undefined);
  const grpcStatus = grpcStatusLabel(r);
  return {
    start_time: new Date(r.startTime).toISOString(),
    method: r.method,
    path: r.path,
    protocol: r.httpVersion,
    request_protocol: r.protocol,
    authority: r.authority,
    response_code: r.status,
    ...(grpcStatus !== '' ? { grpc_status: Number(grpcStatus) } : {}),
    response_flags: formatResponseFlags(r.responseFlags),
    ...(details !== undefined ? { response_code_details: details } : {}),
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    duration: Math.round(r.durationMs),
    ...peerFields(r),
    ...(r.routeName !== undefined ? { route_name: r.routeName } : {}),
    attempts: r.attempts,
    ...(r.upstreamHost !== undefined ? { upstream_host: r.upstreamHost } : {}),
    request_id: r.requestId,
    ...(r.traceId !== undefined ? { trace_id: r.traceId } : {}),
    ...(r.spanId !== undefined ? { span_id: r.spanId } : {}),
    ...(r.userAgent !== undefined ? { user_agent: r.userAgent } : {}),
  };
}

/** Updates the metrics and writes the request's one access-log line. */
export function reportRequest(r: RequestRecord, metrics: WaypointMetrics, logger: Logger): void {
  metrics.observeRequest(r);
  if (logger.isLevelEnabled('info')) logger.info(accessLogFields(r), 'request complete');
}

/** The access-log fields of an L4 connection relayed as bytes. */
export function tcpAccessLogFields(r: TcpConnectionRecord): Record<string, unknown> {
  return {
    start_time: new Date(r.startTime).toISOString(),
    request_protocol: 'tcp',
    response_flags: formatResponseFlags(r.responseFlags),
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    duration: Math.round(r.durationMs),
    ...peerFields(r),
    ...(r.upstreamHost !== undefined ? { upstream_host: r.upstreamHost } : {}),
  };
}

/** Counts a connection opened when its relay starts, so live connections show in the metrics. */
export function reportTcpOpened(r: TcpConnectionRecord, metrics: WaypointMetrics): void {
  metrics.tcpOpened(r);
}

/** Writes the connection's metrics and its one access-log line (`opened`: reportTcpOpened ran). */
export function reportTcpConnection(r: TcpConnectionRecord, metrics: WaypointMetrics, logger: Logger, opened = false): void {
  if (!opened) metrics.tcpOpened(r);
  metrics.tcpClosed(r);
  if (logger.isLevelEnabled('info')) logger.info(tcpAccessLogFields(r), 'connection complete');
}

function peerFields(p: TrafficPeers): Record<string, string> {
  const out: Record<string, string> = { source_address: p.source.ip, source_principal: p.source.identity };
  if (p.sourceWorkload !== undefined) out.source_workload = p.sourceWorkload.workload;
  out.source_namespace = p.source.namespace;
  if (p.service !== undefined) out.destination_service = p.service.hostname;
  if (p.destinationWorkload !== undefined) {
    out.destination_workload = p.destinationWorkload.workload;
    out.destination_namespace = p.destinationWorkload.namespace;
    out.destination_principal = p.destinationWorkload.principal;
  }
  return out;
}
