// Discovery payloads as the delta client hands them over (protobufjs objects, proto3 defaults
// left out), and a ProxyState loaded with them. Shared by the state and proxy tests.
import assert from 'node:assert/strict';
import { ProxyState } from '../proxy-runtime/state/proxy-state.ts';
import { typeUrls } from '../index.ts';

const { address: addressTypeUrl, authorization: authorizationTypeUrl } = typeUrls;

export const TD = 'cluster.local';
export const id = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

export interface WireWorkloadInput {
  uid: string;
  name?: string;
  namespace?: string;
  ip?: string;
  node?: string;
  sa?: string;
  hbone?: boolean;
  waypoint?: object;
  waypointUnavailable?: string;
  status?: string;
  services?: Record<string, object>;
  policies?: string[];
}

export function wireWorkload(w: WireWorkloadInput): { workload: Record<string, unknown> } {
  const namespace = w.namespace ?? 'shop';
  const sa = w.sa ?? 'default';
  const o: Record<string, unknown> = {
    uid: w.uid,
    name: w.name ?? w.uid,
    namespace,
    node: w.node ?? 'node-1',
    serviceAccount: sa,
    trustDomain: TD,
    identity: id(namespace, sa),
  };
  if (w.ip !== undefined) o.addresses = [w.ip];
  if (w.hbone !== false) o.tunnelProtocol = 'HBONE';
  if (w.waypoint !== undefined) o.waypoint = w.waypoint;
  if (w.waypointUnavailable !== undefined) o.waypointUnavailable = w.waypointUnavailable;
  if (w.status !== undefined) o.status = w.status;
  if (w.services !== undefined) o.services = w.services;
  if (w.policies !== undefined) o.authorizationPolicies = w.policies;
  return { workload: o };
}

export interface WireServiceInput {
  name: string;
  namespace?: string;
  vip: string;
  ports: [number, number][];
  waypoint?: object;
  waypointUnavailable?: string;
  endpoints?: { uid: string; ip?: string; ports?: Record<string, number>; ready?: boolean }[];
}

export const hostname = (name: string, ns = 'shop'): string => `${name}.${ns}.svc.cluster.local`;
export const serviceKey = (name: string, ns = 'shop'): string => `${ns}/${hostname(name, ns)}`;

export function wireService(s: WireServiceInput): { service: Record<string, unknown> } {
  const namespace = s.namespace ?? 'shop';
  const o: Record<string, unknown> = {
    name: s.name,
    namespace,
    hostname: hostname(s.name, namespace),
    addresses: [s.vip],
    ports: s.ports.map(([servicePort, targetPort]) => ({ servicePort, targetPort })),
    endpoints: (s.endpoints ?? []).map((e) => {
      const ep: Record<string, unknown> = { workloadUid: e.uid };
      if (e.ip !== undefined) ep.address = e.ip;
      if (e.ports !== undefined) ep.ports = e.ports;
      if (e.ready !== false) ep.ready = true;
      return ep;
    }),
  };
  if (s.waypoint !== undefined) o.waypoint = s.waypoint;
  if (s.waypointUnavailable !== undefined) o.waypointUnavailable = s.waypointUnavailable;
  return { service: o };
}

export function gateway(name: string, vip: string, ns = 'shop'): object {
  return { address: vip, hostname: serviceKey(name, ns), hboneMtlsPort: 15008, identity: id(ns, name) };
}

export function loadState(
  addresses: ({ workload: Record<string, unknown> } | { service: Record<string, unknown> })[],
  policies: Record<string, unknown>[] = [],
): ProxyState {
  const state = new ProxyState();
  const upserts = new Map<string, unknown>();
  for (const a of addresses) {
    if ('workload' in a) upserts.set(a.workload.uid as string, a);
    else upserts.set(`${a.service.namespace}/${a.service.hostname}`, a);
  }
  assert.deepEqual(state.apply(addressTypeUrl, { upserts, removals: [] }).rejected, []);
  const policyUpserts = new Map(policies.map((p) => [`${p.namespace}/${p.name}`, p] as [string, unknown]));
  assert.deepEqual(state.apply(authorizationTypeUrl, { upserts: policyUpserts, removals: [] }).rejected, []);
  return state;
}
