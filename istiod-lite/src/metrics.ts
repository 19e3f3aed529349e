// istiod-lite's metrics, served on 15014 at /metrics. Names follow Istio's pilot and citadel
// metrics so existing dashboards work. One registry per process (tests create their own).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface IstiodMetrics {
  registry: Registry;
  /** Connected proxies by type (ztunnel, waypoint, test). Istio: pilot_xds. */
  connectedProxies: Gauge<'type'>;
  /** Responses pushed, by resource type. Istio: pilot_xds_pushes. */
  pushes: Counter<'type'>;
  /** Time from a config change to its push being written to the proxy stream, seconds. Istio: pilot_proxy_convergence_time. */
  pushLatency: Histogram<never>;
  /** NACKed responses by resource type. Istio: pilot_total_xds_rejects. */
  rejects: Counter<'type'>;
  /** Certificate signing requests received. Istio: citadel_server_csr_count. */
  csrs: Counter<never>;
  /** Certificates issued. Istio: citadel_server_success_cert_issuance_count. */
  certsIssued: Counter<never>;
  /** Requests denied, by reason (unauthenticated, wrong-node, bad-san, bad-signature, bad-csr, ...). Istio: citadel_server_csr_sign_error_count. */
  certsDenied: Counter<'reason'>;
  /** Signing latency, seconds. */
  signLatency: Histogram<never>;
  /** Objects rejected by validation, by kind. */
  invalidObjects: Gauge<'kind'>;
  /** Discovery streams refused before serving, by reason (caller_stream_limit). Own, not Istio's. */
  streamsRefused: Counter<'reason'>;
  /** Discovery response bytes written but not yet handed to their connections, and pushes
   *  waiting (the push budget): the gauges read `stats` when scraped. Own. */
  pushBudget: { stats: () => { bytesInFlight: number; waiting: number } };
  /** Injection webhook reviews received. Istio: sidecar_injection_requests_total. */
  injectionRequests: Counter<never>;
  /** Pods injected. Istio: sidecar_injection_success_total. */
  injectionSuccess: Counter<never>;
  /** Pods let through without a sidecar (opted out, already injected, hostNetwork, ...). Istio: sidecar_injection_skip_total. */
  injectionSkips: Counter<never>;
  /** Reviews answered with an error, by type (malformed, internal). Istio: sidecar_injection_failure_total. */
  injectionFailures: Counter<'type'>;
}

export function createMetrics(registry = new Registry()): IstiodMetrics {
  const pushBudget: IstiodMetrics['pushBudget'] = { stats: () => ({ bytesInFlight: 0, waiting: 0 }) };
  new Gauge({
    name: 'istiod_lite_xds_push_bytes_in_flight',
    help: 'Discovery response bytes written but not yet handed to their connections',
    registers: [registry],
    collect() {
      this.set(pushBudget.stats().bytesInFlight);
    },
  });
  new Gauge({
    name: 'istiod_lite_xds_pushes_waiting',
    help: 'Discovery pushes waiting for the push budget',
    registers: [registry],
    collect() {
      this.set(pushBudget.stats().waiting);
    },
  });
  return {
    registry,
    connectedProxies: new Gauge({ name: 'pilot_xds', help: 'Connected proxies by type', labelNames: ['type'], registers: [registry] }),
    pushes: new Counter({ name: 'pilot_xds_pushes', help: 'Discovery responses pushed, by resource type', labelNames: ['type'], registers: [registry] }),
    pushLatency: new Histogram({
      name: 'pilot_proxy_convergence_time',
      help: 'Seconds from a config change to its push being written to a proxy',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    rejects: new Counter({
      name: 'pilot_total_xds_rejects',
      help: 'Responses NACKed by proxies, by resource type',
      labelNames: ['type'],
      registers: [registry],
    }),
    csrs: new Counter({ name: 'citadel_server_csr_count', help: 'Certificate signing requests received', registers: [registry] }),
    certsIssued: new Counter({ name: 'citadel_server_success_cert_issuance_count', help: 'Certificates issued', registers: [registry] }),
    certsDenied: new Counter({
      name: 'citadel_server_csr_sign_error_count',
      help: 'Certificate requests denied, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    signLatency: new Histogram({
      name: 'citadel_server_csr_sign_duration_seconds',
      help: 'Seconds to verify and sign one certificate request',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    }),
    invalidObjects: new Gauge({
      name: 'istiod_lite_invalid_objects',
      help: 'Objects currently rejected by validation, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    streamsRefused: new Counter({
      name: 'istiod_lite_xds_streams_refused_total',
      help: 'Discovery streams refused before serving, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    pushBudget,
    injectionRequests: new Counter({ name: 'sidecar_injection_requests_total', help: 'Sidecar injection reviews received', registers: [registry] }),
    injectionSuccess: new Counter({ name: 'sidecar_injection_success_total', help: 'Pods injected with a sidecar', registers: [registry] }),
    injectionSkips: new Counter({ name: 'sidecar_injection_skip_total', help: 'Pods let through without a sidecar', registers: [registry] }),
    injectionFailures: new Counter({
      name: 'sidecar_injection_failure_total',
      help: 'Sidecar injection reviews answered with an error, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
  };
}

/** Objects the model left out as invalid (a condition with reason Invalid), by kind. */
export function recordInvalidObjects(metrics: IstiodMetrics, statuses: readonly { kind: string; conditions: readonly { reason: string }[] }[]): void {
  metrics.invalidObjects.reset();
  for (const s of statuses) if (s.conditions.some((c) => c.reason === 'Invalid')) metrics.invalidObjects.inc({ kind: s.kind });
}
