// ztunnel's public entry: the per-pod proxy and its capture, for a proxy that serves one pod
// from inside it (the sidecar workspace). The node proxy itself starts from main.ts.
export { defaultCaptureConfig, installCaptureRules, removeCaptureRules } from './capture/capture-rules.ts';
export { originalDestination } from './capture/netns-sockets.ts';
export { createZtunnelMetrics, type ZtunnelMetrics } from './metrics.ts';
export { PodProxy, type PodProxyDeps } from './proxy/pod-proxy.ts';
export { podSocket, type CapturedPodRef } from './proxy/pod-socket.ts';
