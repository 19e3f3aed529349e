// A CONNECT stream the waypoint relays as bytes (a TCP port, or traffic that is not HTTP):
// L4 authorization with the same policies (HTTP-only fields never widen an ALLOW), one
// endpoint of the service (or the addressed workload), the bytes relayed over HBONE to its
// ztunnel, and one access-log line and the TCP metrics when it ends.
import type { Duplex } from 'node:stream';
import { type Clock, ports } from '@ambient/api';
import { relay } from '@ambient/hbone';
import type { Logger } from 'pino';
import { backendKey, type EndpointPicker } from '../balance/endpoint-picker.ts';
import type { WaypointState } from '../config/waypoint-state.ts';
import type { EndpointClient } from '../endpoint/index.ts';
import { EndpointError } from '../endpoint/index.ts';
import { authorizeConnection } from '../policy/authorization-tcp.ts';
import type { CircuitBreakers } from '../policy/circuit-breaker.ts';
import type { InboundConnection } from '../server/inbound-connection.ts';
import { reportTcpConnection, reportTcpOpened } from '../telemetry/report-request.ts';
import { type TcpConnectionRecord, workloadLabels } from '../telemetry/request-record.ts';
import { NO_FLAGS, type ResponseFlag } from '../telemetry/response-flags.ts';
import type { WaypointMetrics } from '../telemetry/waypoint-metrics.ts';
import type { WaypointTarget } from './request-stack.ts';

export interface TcpStackOptions {
  state: WaypointState;
  endpoints: EndpointClient;
  picker: EndpointPicker;
  breakers: CircuitBreakers;
  metrics: WaypointMetrics;
  logger: Logger;
  clock: Clock;
}

export async function relayTcp(stream: Duplex, conn: InboundConnection<WaypointTarget>, o: TcpStackOptions): Promise<void> {
  const started = o.clock.now();
  const target = conn.served;
  const service = target.kind === 'service' ? target.service : undefined;
  const sourceWorkload = o.state.addresses.workloadByIp(conn.source.ip);
  const record: TcpConnectionRecord = {
    startTime: Date.now(),
    responseFlags: NO_FLAGS,
    bytesReceived: 0,
    bytesSent: 0,
    durationMs: 0,
    source: conn.source,
    sourceWorkload: sourceWorkload && workloadLabels(sourceWorkload),
    service: service && { hostname: service.hostname, name: service.name, namespace: service.namespace },
  };
  let opened = false;
  const end = (flags: readonly ResponseFlag[]): void => {
    record.responseFlags = flags.length > 0 ? flags : NO_FLAGS;
    record.durationMs = Math.round(o.clock.now() - started);
    reportTcpConnection(record, o.metrics, o.logger, opened);
  };
  const decision = authorizeConnection(o.state.config?.authorizations ?? [], { serviceHostname: service?.hostname }, conn.target.port, conn.source);
  if (!decision.allowed) {
    stream.destroy();
    return end([]);
  }
  const candidates =
    target.kind === 'workload'
      ? [{ workload: target.workload, ip: conn.target.ip, port: conn.target.port }]
      : o.state.endpoints(target.service.hostname, target.port.servicePort);
  const backend = backendKey(service?.hostname ?? conn.target.ip, conn.target.port);
  // No HTTP here: a consistent hash on the source IP works, a header/cookie/query key is missing
  // (a random pick). A connection reports its connect time and whether the connect failed.
  const pick = o.picker.pick(backend, candidates, target.kind === 'service' ? target.config.trafficPolicy : undefined, {
    headers: {},
    sourceIp: conn.source.ip,
    path: '',
  });
  if (pick === undefined) {
    stream.destroy();
    return end(['UH']);
  }
  // DestinationRule tcp.maxConnections: a connection over the limit is refused at once.
  const admission = o.breakers.connection(service?.hostname ?? '');
  if (admission === 'overflow') {
    stream.destroy();
    return end(['UO']);
  }
  const picked = pick.endpoint;
  record.destinationWorkload = workloadLabels(picked.workload);
  record.upstreamHost = `${picked.ip}:${picked.port}`;
  let upstream: Duplex;
  o.picker.started(picked);
  const connectAt = o.clock.now();
  try {
    upstream = await o.endpoints.connectTcp({
      address: { ip: picked.ip, port: picked.port },
      hboneAddress: { ip: picked.ip, port: ports.hbone },
      identity: picked.workload.identity,
      protocol: 'http1',
    });
  } catch (err) {
    admission.release();
    const connectFailed = err instanceof EndpointError && err.code === 'ERR_ENDPOINT_CONNECT';
    o.picker.finished(backend, picked, { latencyMs: o.clock.now() - connectAt, failure: connectFailed ? 'connect' : 'cancelled' });
    stream.destroy();
    return end([err instanceof EndpointError ? (err.responseFlag as ResponseFlag) : 'UF']);
  }
  const connectMs = o.clock.now() - connectAt;
  reportTcpOpened(record, o.metrics);
  opened = true;
  const counters = { sent: 0, received: 0 };
  const result = await relay(stream, upstream, { counters });
  admission.release();
  o.picker.finished(backend, picked, { latencyMs: connectMs });
  record.bytesReceived = result.sent;
  record.bytesSent = result.received;
  end(result.error !== undefined ? ['UC'] : []);
}
