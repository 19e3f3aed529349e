// Every collection istiod-lite watches, and where each lands in MeshInputs.
import type { MeshInputs } from '../model/inputs.ts';
export interface MeshResource {
  /** Kind of the objects, e.g. 'Pod' (lists carry no kind per item: it is stamped from here). */
  kind: string;
  apiVersion: string;
  /** Cluster-wide collection path, e.g. '/api/v1/pods'. */
  path: string;
  input: keyof MeshInputs;
}

export const meshResources: readonly MeshResource[] = [
  { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', input: 'namespaces' },
  { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', input: 'nodes' },
  { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', input: 'pods' },
  { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', input: 'services' },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices', input: 'endpointSlices' },
  { kind: 'ServiceAccount', apiVersion: 'v1', path: '/api/v1/serviceaccounts', input: 'serviceAccounts' },
  { kind: 'Gateway', apiVersion: 'gateway.networking.k8s.io/v1', path: '/apis/gateway.networking.k8s.io/v1/gateways', input: 'gateways' },
  { kind: 'HTTPRoute', apiVersion: 'gateway.networking.k8s.io/v1', path: '/apis/gateway.networking.k8s.io/v1/httproutes', input: 'httpRoutes' },
  { kind: 'GRPCRoute', apiVersion: 'gateway.networking.k8s.io/v1', path: '/apis/gateway.networking.k8s.io/v1/grpcroutes', input: 'grpcRoutes' },
  { kind: 'AuthorizationPolicy', apiVersion: 'security.istio.io/v1', path: '/apis/security.istio.io/v1/authorizationpolicies', input: 'authorizationPolicies' },
  { kind: 'PeerAuthentication', apiVersion: 'security.istio.io/v1', path: '/apis/security.istio.io/v1/peerauthentications', input: 'peerAuthentications' },
  { kind: 'DestinationRule', apiVersion: 'networking.istio.io/v1', path: '/apis/networking.istio.io/v1/destinationrules', input: 'destinationRules' },
  { kind: 'RateLimitPolicy', apiVersion: 'mesh.ambient.dev/v1alpha1', path: '/apis/mesh.ambient.dev/v1alpha1/ratelimitpolicies', input: 'extensions' },
  {
    kind: 'FaultInjectionPolicy',
    apiVersion: 'mesh.ambient.dev/v1alpha1',
    path: '/apis/mesh.ambient.dev/v1alpha1/faultinjectionpolicies',
    input: 'extensions',
  },
  {
    kind: 'BackendTrafficPolicy',
    apiVersion: 'mesh.ambient.dev/v1alpha1',
    path: '/apis/mesh.ambient.dev/v1alpha1/backendtrafficpolicies',
    input: 'extensions',
  },
];
