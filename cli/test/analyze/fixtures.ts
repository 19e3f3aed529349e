// Builders for the objects the analyzer reads, with only what each test needs, and `cluster()`
// to sort them into the lists analyze() takes.
import type { ClusterObjects, Finding, KubeObject } from '../../src/analyze/analyze.ts';
import { analyze } from '../../src/analyze/analyze.ts';

type Labels = Record<string, string>;

export function namespace(name: string, labels: Labels = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/** An enrolled namespace, optionally sending its traffic through `waypoint`. */
export function ambient(name: string, waypoint?: string, extra: Labels = {}): KubeObject {
  return namespace(name, { 'istio.io/dataplane-mode': 'ambient', ...(waypoint ? { 'istio.io/use-waypoint': waypoint } : {}), ...extra });
}

export function service(name: string, o: { ns?: string; labels?: Labels; selector?: Labels } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.ns ?? 'shop', labels: o.labels ?? {} },
    spec: { selector: o.selector ?? { app: name } },
  };
}

export function pod(name: string, o: { ns?: string; labels?: Labels; hostNetwork?: boolean; sidecar?: boolean } = {}): KubeObject {
  const p: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'shop', labels: o.labels ?? {} },
    spec: { containers: [{ name: 'app' }] },
  };
  if (o.hostNetwork) p.spec.hostNetwork = true;
  if (o.sidecar) p.metadata.annotations = { 'sidecar.istio.io/status': '{}' };
  return p;
}

/** A Gateway of class istio-waypoint; `waypointFor` unset leaves Istio's default (service). */
export function waypoint(name: string, o: { ns?: string; waypointFor?: string } = {}): KubeObject {
  return gateway(name, { ns: o.ns, className: 'istio-waypoint', labels: o.waypointFor ? { 'istio.io/waypoint-for': o.waypointFor } : {} });
}

export function gateway(name: string, o: { ns?: string; className?: string; labels?: Labels } = {}): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: o.ns ?? 'shop', labels: o.labels ?? {} },
    spec: { gatewayClassName: o.className ?? 'istio', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
}

export function policy(name: string, spec: any, ns = 'shop'): KubeObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: ns }, spec };
}

export function httpRoute(name: string, spec: any, ns = 'shop'): KubeObject {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec };
}

export function grpcRoute(name: string, spec: any, ns = 'shop'): KubeObject {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name, namespace: ns }, spec };
}

const listByKind: Record<string, keyof ClusterObjects> = {
  Namespace: 'namespaces',
  Service: 'services',
  Pod: 'pods',
  Gateway: 'gateways',
  HTTPRoute: 'httpRoutes',
  GRPCRoute: 'grpcRoutes',
  AuthorizationPolicy: 'authorizationPolicies',
  PeerAuthentication: 'peerAuthentications',
};

export function cluster(...objects: KubeObject[]): ClusterObjects {
  const out: ClusterObjects = {
    namespaces: [],
    services: [],
    pods: [],
    gateways: [],
    httpRoutes: [],
    grpcRoutes: [],
    authorizationPolicies: [],
    peerAuthentications: [],
  };
  for (const o of objects) out[listByKind[o.kind!]!].push(o);
  return out;
}

/** The findings of one code, as "<Kind> <ns>/<name>" (or "<Kind> <name>" when cluster-scoped). */
export function flagged(code: string, ...objects: KubeObject[]): string[] {
  return findings(code, ...objects).map((f) => `${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name}`);
}

export function findings(code: string, ...objects: KubeObject[]): Finding[] {
  return analyze(cluster(...objects)).filter((f) => f.code === code);
}

/** The one finding of `code`; fails when there are none or several. */
export function only(code: string, ...objects: KubeObject[]): Finding {
  const found = findings(code, ...objects);
  if (found.length !== 1) throw new Error(`expected one ${code} finding, got ${found.length}: ${JSON.stringify(found, null, 2)}`);
  return found[0]!;
}
