// The labels and names of Istio ambient that the plugin reads and writes, so that existing
// manifests behave as Istio would treat them.

export const dataplaneModeLabel = 'istio.io/dataplane-mode';
export const useWaypointLabel = 'istio.io/use-waypoint';
export const useWaypointNamespaceLabel = 'istio.io/use-waypoint-namespace';
export const waypointForLabel = 'istio.io/waypoint-for';
/** Set on a waypoint's own pods: they are the waypoint, not workloads behind it. */
export const gatewayNameLabel = 'gateway.networking.k8s.io/gateway-name';
/** Set by the sidecar injector: the pod's sidecar, not ztunnel, handles its traffic. */
export const sidecarStatusAnnotation = 'sidecar.istio.io/status';

export const waypointGatewayClass = 'istio-waypoint';
export const gatewayApiGroup = 'gateway.networking.k8s.io';
/** Policies here without a selector apply to the whole mesh; with one, to every namespace. */
export const rootNamespace = 'istio-system';
export const trustDomain = 'cluster.local';
