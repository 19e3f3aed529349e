// The pod index the sources keep for the CA's "is this identity on the caller's node" check:
// defined beside the sources that back it, read by the CA (kube/ never imports ca/).

/** What the CA needs to know about a pod. */
export interface PodRecord {
  namespace: string;
  name: string;
  /** Unset only for objects that never came from an API server. */
  uid?: string;
  serviceAccount: string;
  phase?: string;
  nodeName?: string;
}

export interface PodLookup {
  podsOnNode(node: string): PodRecord[];
  podByName(namespace: string, name: string): PodRecord | undefined;
}
