// Istio's labels for the waypoint's metrics, computed from a record: the names, their order and
// their fallbacks are those of Istio's stats filter (istio/proxy istio_stats.cc, reporter
// "waypoint"), so Kiali and the Istio Grafana dashboards read them unchanged.
//
// Every value is bounded: names come from discovery (workloads, services, identities), codes and
// flags from small sets. What a client controls (path, authority, request id) never becomes a
// label; Istio falls back to the Host header for destination_service, which would let any client
// mint series, so the waypoint reports 'unknown' instead.
import { formatResponseFlags } from './response-flags.ts';
import type { DestinationService, RequestRecord, TcpConnectionRecord, TrafficPeers, WorkloadLabels } from './request-record.ts';

/** Who talked to whom: the labels both metric families start with, in Istio's order. */
const peerLabelNames = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
] as const;

/** The labels of Istio's TCP metrics, in Istio's order: the request labels without response_code and grpc_response_status. */
export const tcpLabelNames = [...peerLabelNames, 'request_protocol', 'response_flags', 'connection_security_policy'] as const;

/** The labels of Istio's request metrics, in Istio's order. */
export const requestLabelNames = [
  ...peerLabelNames,
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

export type TcpLabel = (typeof tcpLabelNames)[number];
export type RequestLabel = (typeof requestLabelNames)[number];

const UNKNOWN = 'unknown';

// One builder for both shapes, so the two label sets cannot drift apart; `status` is undefined
// for TCP, which has no response_code or grpc_response_status.
function labelsOf(
  p: TrafficPeers,
  requestProtocol: string,
  status: [string, string] | undefined,
  flags: string,
): Record<TcpLabel, string> & Partial<Record<RequestLabel, string>> {
  const src = p.sourceWorkload;
  const dst = p.destinationWorkload;
  const svc = p.service;
  return {
    reporter: 'waypoint',
    source_workload: src?.workload ?? UNKNOWN,
    source_canonical_service: src?.canonicalService ?? UNKNOWN,
    // Istio's default for a peer without a revision.
    source_canonical_revision: src?.canonicalRevision ?? 'latest',
    // The certificate's namespace first, as Istio takes it from the peer SAN.
    source_workload_namespace: p.source.namespace || src?.namespace || UNKNOWN,
    source_principal: p.source.identity || UNKNOWN,
    source_app: src?.app ?? UNKNOWN,
    source_version: src?.version ?? UNKNOWN,
    source_cluster: src?.cluster ?? UNKNOWN,
    destination_workload: dst?.workload ?? UNKNOWN,
    destination_workload_namespace: dst?.namespace ?? UNKNOWN,
    destination_principal: dst?.principal ?? UNKNOWN,
    destination_app: dst?.app ?? UNKNOWN,
    destination_version: dst?.version ?? UNKNOWN,
    destination_service: svc?.hostname ?? UNKNOWN,
    destination_canonical_service: dst?.canonicalService ?? UNKNOWN,
    destination_canonical_revision: dst?.canonicalRevision ?? UNKNOWN,
    destination_service_name: svc?.name ?? UNKNOWN,
    destination_service_namespace: svc?.namespace ?? UNKNOWN,
    destination_cluster: dst?.cluster ?? UNKNOWN,
    request_protocol: requestProtocol,
    ...(status !== undefined ? { response_code: status[0], grpc_response_status: status[1] } : undefined),
    response_flags: flags,
    // The waypoint is reached only over HBONE: a proven client identity means mutual TLS.
    connection_security_policy: p.source.identity ? 'mutual_tls' : 'none',
  };
}

/** Istio's labels of a request. */
export function requestLabels(r: RequestRecord): Record<RequestLabel, string> {
  // With a status, labelsOf fills response_code and grpc_response_status too.
  return labelsOf(r, r.protocol, [responseCodeLabel(r.status), grpcStatusLabel(r)], formatResponseFlags(r.responseFlags)) as Record<RequestLabel, string>;
}

/** Istio's labels of an L4 connection. */
export function tcpLabels(r: TcpConnectionRecord): Record<TcpLabel, string> {
  return labelsOf(r, 'tcp', undefined, formatResponseFlags(r.responseFlags));
}

/** A status code, or '0' for none or for something that is not one (the label stays bounded). */
export function responseCodeLabel(status: number): string {
  return Number.isInteger(status) && status >= 0 && status <= 999 ? String(status) : '0';
}

/** '' for plain HTTP and for a gRPC response without a status; codes beyond 16 are UNKNOWN (2), as gRPC reads them. */
export function grpcStatusLabel(r: Pick<RequestRecord, 'protocol' | 'grpcStatus'>): string {
  const s = r.grpcStatus;
  if (r.protocol !== 'grpc' || s === undefined) return '';
  return Number.isInteger(s) && s >= 0 && s <= 16 ? String(s) : '2';
}

// Series keys: the parts that determine a label tuple, taken without building the labels, as
// strings the record already holds (their hashes are cached, so a Map lookup per part is cheap;
// a concatenated key would be a new string to flatten and hash on every request). A peer's or a
// service's part is computed once per object (workloadLabels hands out one object per workload)
// and interned as a short id.
const partKeys = new WeakMap<object, string>();
// Grows with the distinct workloads and services seen, which discovery bounds.
const interned = new Map<string, string>();

function intern(object: object, content: string): string {
  let key = interned.get(content);
  if (key === undefined) interned.set(content, (key = `#${interned.size.toString(36)}`));
  partKeys.set(object, key);
  return key;
}

function peerKey(p: WorkloadLabels | undefined): string {
  if (p === undefined) return '';
  return (
    partKeys.get(p) ?? intern(p, JSON.stringify([p.workload, p.namespace, p.principal, p.app, p.version, p.canonicalService, p.canonicalRevision, p.cluster]))
  );
}

function serviceKey(s: DestinationService | undefined): string {
  if (s === undefined) return '';
  return partKeys.get(s) ?? intern(s, JSON.stringify([s.hostname, s.name, s.namespace]));
}

function peersKey(p: TrafficPeers, out: string[]): void {
  out[0] = peerKey(p.sourceWorkload);
  out[1] = p.source.identity;
  out[2] = p.source.namespace;
  out[3] = serviceKey(p.service);
  out[4] = peerKey(p.destinationWorkload);
}

export const REQUEST_KEY_PARTS = 9;
export const TCP_KEY_PARTS = 6;

/** Writes the request's REQUEST_KEY_PARTS key parts into `out`: equal parts ⇔ equal requestLabels. */
export function requestSeriesKey(r: RequestRecord, out: string[] = []): string[] {
  peersKey(r, out);
  out[5] = r.protocol;
  out[6] = responseCodeLabel(r.status);
  out[7] = grpcStatusLabel(r);
  out[8] = formatResponseFlags(r.responseFlags);
  return out;
}

/** Writes the connection's TCP_KEY_PARTS key parts into `out`: equal parts ⇔ equal tcpLabels. */
export function tcpSeriesKey(r: TcpConnectionRecord, out: string[] = []): string[] {
  peersKey(r, out);
  out[5] = formatResponseFlags(r.responseFlags);
  return out;
}
