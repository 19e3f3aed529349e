// The node-agent protocol: how a node's ztunnel learns which pods (and network namespaces) it
// serves, as Istio's CNI agent hands pod netns to ztunnel. The serving side (the local
// cluster's node hook) and the consuming side (ztunnel) share these shapes.
// Wire format: newline-delimited JSON on a Unix socket, a snapshot first, then add/remove.

export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  ip: string;
  /** Name under /run/netns. */
  netns: string;
  netnsPath: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
}

export type NodeAgentMessage = { type: 'snapshot'; pods: PodInfo[] } | { type: 'add'; pod: PodInfo } | { type: 'remove'; pod: PodInfo };
