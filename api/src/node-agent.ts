// The node-agent protocol: how a node's ztunnel learns which pods (and network namespaces) it
// serves, as Istio's CNI agent hands pod netns to ztunnel. The serving side (the CNI node agent,
// @ambient/cni) and the consuming side (ztunnel) share these shapes.
// Wire format: newline-delimited JSON on a Unix socket, a snapshot first, then add/remove.

export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  ip: string;
  /** The netns file's name (under /run/netns for the runtimes that name them). */
  netns: string;
  netnsPath: string;
  /** From the pod object, when the agent could read it from the API server (the CNI call
   *  itself carries only the pod's namespace, name and uid). ztunnel does not need them. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  serviceAccount?: string;
}

export type NodeAgentMessage = { type: 'snapshot'; pods: PodInfo[] } | { type: 'add'; pod: PodInfo } | { type: 'remove'; pod: PodInfo };
