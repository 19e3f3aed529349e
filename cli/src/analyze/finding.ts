// What the analyzer reads and what it reports: plain data, no behaviour. A leaf, so that the
// rules and analyze.ts (which re-exports these) share one definition without an import cycle.

/**
 * Any part of an object as the API server returns it. The rules read fields one at a time and
 * check each at run time: a malformed object yields fewer findings, never an exception.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; every read is checked where it happens
export type Manifest = any;

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Manifest;
  status?: Manifest;
};

/** Plain Kubernetes JSON objects as the API returns them, one list per kind. */
export interface ClusterObjects {
  namespaces: KubeObject[];
  services: KubeObject[];
  pods: KubeObject[];
  gateways: KubeObject[];
  httpRoutes: KubeObject[];
  grpcRoutes: KubeObject[];
  authorizationPolicies: KubeObject[];
  peerAuthentications: KubeObject[];
}

export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
}

export type Severity = 'Error' | 'Warning' | 'Info';

export interface Finding {
  /** Stable, e.g. 'AMB0001'; listed in README.md with its severity. */
  code: string;
  severity: Severity;
  /** The object the user must look at. */
  object: ObjectRef;
  /** A lower-case-start sentence naming the offending values. */
  message: string;
  /** What to do: a kubectl command or a manifest change. */
  fix: string;
}
