// The contract between the model (what each proxy should have) and the discovery server (how
// it gets there). Type URLs and proxy types are @ambient/api's (well-known.ts).
import type { ProxyType } from '@ambient/api';

/** A connected proxy, from its first request's Node and its authenticated token. */
export interface ProxyNode {
  id: string;
  type: ProxyType;
  nodeName: string;
  namespace: string;
  name: string;
}

/** A resource as sent: the same object is kept while the resource does not change. */
export interface VersionedResource {
  version: string;
  /** Plain object in the proto's lowerCamelCase JSON shape of the type's message. */
  payload: object;
}

export interface ResourceChange {
  /** Changed resource names per type URL ('all' when unknown). */
  changed: Map<string, Set<string> | 'all'>;
  /** When the underlying Kubernetes change was seen (performance.now()), for push latency. */
  seenAt: number;
}

export interface ResourceSource {
  /** The resources of a type this proxy is entitled to, by name. */
  resources(node: ProxyNode, typeUrl: string): ReadonlyMap<string, VersionedResource>;
  /** Called after each model update; returns an unsubscribe function. */
  onChange(listener: (change: ResourceChange) => void): () => void;
}
