// Builders for the Kubernetes objects the model reads, with only what each test needs.
import { defaultMeshOptions, emptyInputs, type KubeObject, type MeshInputs } from '../../src/model/inputs.ts';

export const opts = defaultMeshOptions;

let uid = 0;

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export interface PodOptions {
  ns?: string;
  labels?: Record<string, string>;
  ip?: string;
  node?: string;
  sa?: string;
  phase?: string;
  ready?: boolean;
  ports?: { name: string; containerPort: number }[];
  hostNetwork?: boolean;
  owner?: { kind: string; name: string };
  deleting?: boolean;
  uid?: string;
}

export function pod(name: string, o: PodOptions = {}): KubeObject {
  const p: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'shop', uid: o.uid ?? `uid-${name}-${++uid}`, labels: o.labels ?? {} },
    spec: { nodeName: o.node ?? 'node-a', containers: [{ name: 'app', ports: o.ports ?? [] }] },
    status: { phase: o.phase ?? 'Running', podIP: o.ip ?? '10.244.1.10', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
  if (o.sa) p.spec.serviceAccountName = o.sa;
  if (o.hostNetwork) p.spec.hostNetwork = true;
  if (o.owner) p.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: 'owner', controller: true }];
  if (o.deleting) p.metadata!.deletionTimestamp = new Date('2025-01-01T00:00:00Z');
  return p;
}

export function service(
  name: string,
  o: { ns?: string; labels?: Record<string, string>; selector?: Record<string, string>; ip?: string; ports?: any[] } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.ns ?? 'shop', labels: o.labels ?? {} },
    spec: { selector: o.selector ?? { app: name }, clusterIP: o.ip ?? '10.96.0.10', ports: o.ports ?? [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

export function waypointGateway(name: string, o: { ns?: string; waypointFor?: string; listener?: any } = {}): KubeObject {
  const labels: Record<string, string> = {};
  if (o.waypointFor) labels['istio.io/waypoint-for'] = o.waypointFor;
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: o.ns ?? 'shop', labels, generation: 1 },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [o.listener ?? { name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
}

/** A waypoint Gateway and the Service the waypoint controller creates for it. */
export function waypoint(name: string, o: { ns?: string; waypointFor?: string; ip?: string } = {}): KubeObject[] {
  const svc = service(name, {
    ns: o.ns ?? 'shop',
    ip: o.ip ?? '10.96.0.99',
    selector: { 'gateway.networking.k8s.io/gateway-name': name },
    ports: [{ name: 'mesh', port: 15008 }],
  });
  svc.metadata!.labels = { 'gateway.networking.k8s.io/gateway-name': name };
  return [waypointGateway(name, o), svc];
}

export function authorizationPolicy(name: string, spec: any, ns = 'shop'): KubeObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns, generation: 2 }, spec };
}

export function peerAuthentication(name: string, spec: any, ns = 'shop', created = '2025-01-01T00:00:00Z'): KubeObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: ns, creationTimestamp: new Date(created) }, spec };
}

export function httpRoute(name: string, spec: any, ns = 'shop', created = '2025-01-01T00:00:00Z'): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: ns, generation: 3, creationTimestamp: created as any },
    spec,
  };
}

export function grpcRoute(name: string, spec: any, ns = 'shop', created = '2025-01-01T00:00:00Z'): KubeObject {
  return { ...httpRoute(name, spec, ns, created), kind: 'GRPCRoute' };
}

/** Inputs from a flat list of objects, sorted into their kinds. */
export function inputs(...objects: (KubeObject | KubeObject[])[]): MeshInputs {
  const i = emptyInputs();
  const byKind: Record<string, keyof MeshInputs> = {
    Namespace: 'namespaces',
    Pod: 'pods',
    Service: 'services',
    Gateway: 'gateways',
    HTTPRoute: 'httpRoutes',
    GRPCRoute: 'grpcRoutes',
    AuthorizationPolicy: 'authorizationPolicies',
    PeerAuthentication: 'peerAuthentications',
    DestinationRule: 'destinationRules',
    Node: 'nodes',
  };
  for (const o of objects.flat()) (i[byKind[o.kind!] ?? 'extensions'] as KubeObject[]).push(o);
  return i;
}
