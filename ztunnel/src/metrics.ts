// ztunnel's metrics on 15020 (/metrics, /stats/prometheus): Istio's names and labels, so
// existing Grafana/Kiali dashboards work. Labels are filled at the connection boundary.
import { Counter, Gauge, Registry } from 'prom-client';

export const connectionLabels = [
  'reporter', // 'source' (outbound side) | 'destination' (inbound side)
  'source_workload',
  'source_workload_namespace',
  'source_canonical_service',
  'source_canonical_revision',
  'source_principal',
  'destination_workload',
  'destination_workload_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_principal',
  'destination_service',
  'request_protocol', // 'tcp'
  'response_flags', // '-' | 'DENY' | 'CONNECT' (upstream connect failure)
  'connection_security_policy', // 'mutual_tls' | 'unknown'
] as const;

export type ConnectionLabel = (typeof connectionLabels)[number];
export type ConnectionLabels = Partial<Record<ConnectionLabel, string>>;

export interface ZtunnelMetrics {
  registry: Registry;
  connectionsOpened: Counter<ConnectionLabel>;
  connectionsClosed: Counter<ConnectionLabel>;
  sentBytes: Counter<ConnectionLabel>;
  receivedBytes: Counter<ConnectionLabel>;
  /** Connections refused before any byte reached a workload, by reason (ztunnel's own, not Istio's). */
  refused: Counter<'direction' | 'reason'>;
  /** Pods whose traffic is captured right now. */
  capturedPods: Gauge<never>;
}

export function createZtunnelMetrics(registry = new Registry()): ZtunnelMetrics {
  const labelNames = [...connectionLabels];
  return {
    registry,
    connectionsOpened: new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames, registers: [registry] }),
    connectionsClosed: new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames, registers: [registry] }),
    sentBytes: new Counter({
      name: 'istio_tcp_sent_bytes_total',
      help: 'Bytes sent toward the destination during TCP connections',
      labelNames,
      registers: [registry],
    }),
    receivedBytes: new Counter({
      name: 'istio_tcp_received_bytes_total',
      help: 'Bytes received from the destination during TCP connections',
      labelNames,
      registers: [registry],
    }),
    refused: new Counter({
      name: 'ztunnel_connections_refused_total',
      help: 'Connections refused by ztunnel, by direction and reason',
      labelNames: ['direction', 'reason'],
      registers: [registry],
    }),
    capturedPods: new Gauge({ name: 'ztunnel_captured_pods', help: 'Pods whose traffic this ztunnel captures', registers: [registry] }),
  };
}
