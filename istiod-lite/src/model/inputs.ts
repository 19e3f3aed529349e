// What the model is computed from: the watched Kubernetes objects, as plain data. The kube
// sources fill it; the model reads it and never does I/O.
import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * Any part of a user's manifest (spec, status, a rule inside them) as the API server returns it.
 * The model reads these fields one by one and checks each at run time (policy-values.ts,
 * routes.ts): a wrong one makes the object Invalid with a condition that says why, never an
 * exception. This is the one place the model's code may hold an unchecked value.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; the checks are at run time, field by field
export type Manifest = any;

/** A watched object as the API returns it (typed views belong to the code that reads a kind). */
export type KubeObject = KubernetesObject & { spec?: Manifest; status?: Manifest; data?: Record<string, string> };

export interface MeshInputs {
  namespaces: KubeObject[];
  nodes: KubeObject[];
  pods: KubeObject[];
  services: KubeObject[];
  endpointSlices: KubeObject[];
  serviceAccounts: KubeObject[];
  /** gateway.networking.k8s.io/v1 */
  gateways: KubeObject[];
  httpRoutes: KubeObject[];
  grpcRoutes: KubeObject[];
  /** security.istio.io/v1 */
  authorizationPolicies: KubeObject[];
  peerAuthentications: KubeObject[];
  /** networking.istio.io/v1 */
  destinationRules: KubeObject[];
  /** The project's own policy-attachment CRDs (rate limits, fault injection), any kind. */
  extensions: KubeObject[];
}

export interface MeshOptions {
  trustDomain: string; // 'cluster.local'
  rootNamespace: string; // 'istio-system': policies there without a selector are global
  clusterDomain: string; // 'cluster.local': service hostnames are <svc>.<ns>.svc.<clusterDomain>
}

export const defaultMeshOptions: MeshOptions = { trustDomain: 'cluster.local', rootNamespace: 'istio-system', clusterDomain: 'cluster.local' };

export function emptyInputs(): MeshInputs {
  return {
    namespaces: [],
    nodes: [],
    pods: [],
    services: [],
    endpointSlices: [],
    serviceAccounts: [],
    gateways: [],
    httpRoutes: [],
    grpcRoutes: [],
    authorizationPolicies: [],
    peerAuthentications: [],
    destinationRules: [],
    extensions: [],
  };
}
