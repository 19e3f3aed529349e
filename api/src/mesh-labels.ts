// The user-facing labels and names of Istio ambient that the mesh reads and writes (istiod-lite
// and kubectl-ambient), so existing manifests behave as Istio would treat them.

export const dataplaneModeLabel = 'istio.io/dataplane-mode';
export const useWaypointLabel = 'istio.io/use-waypoint';
export const useWaypointNamespaceLabel = 'istio.io/use-waypoint-namespace';
export const waypointForLabel = 'istio.io/waypoint-for';
/** Set on a waypoint's own pods and Service: they are never redirected to a waypoint. */
export const gatewayNameLabel = 'gateway.networking.k8s.io/gateway-name';
export const waypointGatewayClass = 'istio-waypoint';
export const gatewayApiGroup = 'gateway.networking.k8s.io';
export const gatewayControllerName = 'istio.io/gateway-controller';

// Sidecar mode (Istio's names): a namespace labelled istio-injection=enabled, or a pod labelled
// sidecar.istio.io/inject=true, gets the sidecar injected; the injector marks the pod with the
// status annotation, which is what tells the model the pod handles its own tunnel.
export const injectionNamespaceLabel = 'istio-injection';
export const sidecarInjectLabel = 'sidecar.istio.io/inject';
export const sidecarStatusAnnotation = 'sidecar.istio.io/status';
export const revisionLabel = 'istio.io/rev';
