// Numbers and names every component agrees on, defined once. They follow Istio's, so tooling
// and intuition carry over (DESIGN.md, "Data plane facts").

/** ztunnel's and waypoints' ports. */
export const ports = {
  /** Outbound capture: a pod's outgoing TCP is redirected here inside its netns. */
  outbound: 15001,
  /** Inbound plaintext capture: incoming TCP (but HBONE) is redirected here. */
  inboundPlaintext: 15006,
  /** HBONE: HTTP/2 CONNECT over mTLS, on every enrolled pod and waypoint. */
  hbone: 15008,
  /** Admin (`/config_dump`, `/logging`), localhost only. */
  admin: 15000,
  /** Metrics (`/metrics`, `/stats/prometheus`). */
  metrics: 15020,
  /** Readiness (`/healthz/ready`). */
  readiness: 15021,
  /** istiod-lite: discovery and the CA over TLS gRPC. */
  istiodGrpc: 15012,
  /** istiod-lite: metrics and `/debug/*`. */
  istiodMetrics: 15014,
  /** istiod-lite: the sidecar injection webhook (HTTPS `/inject`), Istio's webhook port. */
  webhook: 15017,
} as const;

/**
 * Ports that are ztunnel's inside a pod's netns (its listeners) or beside it (admin, metrics,
 * readiness). Traffic addressed to one of them is never forwarded: ztunnel would dial its own
 * listener from inside the pod and loop until it runs out of descriptors.
 */
export const ztunnelReservedPorts: ReadonlySet<number> = new Set([
  ports.outbound,
  ports.inboundPlaintext,
  ports.hbone,
  ports.admin,
  ports.metrics,
  ports.readiness,
]);

/** SO_MARK on ztunnel's own sockets, so a pod's capture rules let them through (Istio's 0x539). */
export const ztunnelMark = 0x539;

/** The discovery resource types (api/proto/ambient/{workload,waypoint}/v1). */
export const typeUrls = {
  address: 'type.googleapis.com/ambient.workload.v1.Address',
  authorization: 'type.googleapis.com/ambient.workload.v1.Authorization',
  waypointConfig: 'type.googleapis.com/ambient.waypoint.v1.WaypointConfig',
} as const;

/**
 * Who is asking for configuration; decides which resources a proxy may subscribe to. A
 * `sidecar` is the proxy injected into one pod (`ambient-sidecar`): it claims that pod.
 */
export type ProxyType = 'ztunnel' | 'waypoint' | 'sidecar' | 'test';
export const proxyTypes: readonly ProxyType[] = ['ztunnel', 'waypoint', 'sidecar', 'test'];
