// What the waypoint knows about one finished request (or one L4 connection it passed through):
// plain data gathered along the way and reported once, at the boundary, as one access-log line
// and the Istio metrics. Nothing here is formatted for either; report-request.ts decides that.
import type { Workload } from '@ambient/api';
import type { SourceFacts } from '../http/request-facts.ts';
import type { DenyingPolicy, ResponseFlag } from './response-flags.ts';

/**
 * Istio's peer metadata of one workload, as its metric labels read it. Built once per workload
 * (workloadLabels) and reused: the metrics cache keys on the object, so a record should point at
 * the same object for the same workload rather than a fresh copy.
 */
export interface WorkloadLabels {
  readonly workload: string;
  readonly namespace: string;
  /** The workload's SPIFFE ID. */
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

/** The service the request was addressed to (a ServiceConfig has these fields). */
export interface DestinationService {
  /** 'reviews.shop.svc.cluster.local' */
  readonly hostname: string;
  readonly name: string;
  readonly namespace: string;
}

/** Who talked to whom: the part of a record the metric labels are made of. */
export interface TrafficPeers {
  /** Proven by the HBONE peer certificate. */
  source: SourceFacts;
  /** The source workload found in discovery by its address; undefined when unknown. */
  sourceWorkload?: WorkloadLabels | undefined;
  /** Undefined when no service was resolved (e.g. NR for an unknown authority). */
  service?: DestinationService | undefined;
  /** The endpoint the request finally went to; undefined when none was picked. */
  destinationWorkload?: WorkloadLabels | undefined;
}

export interface RequestRecord extends TrafficPeers {
  /** Epoch milliseconds when the request's headers arrived. */
  startTime: number;
  method: string;
  /** As received, query included. Logged, never a metric label. */
  path: string;
  authority: string;
  /** The downstream HTTP version. */
  httpVersion: 'HTTP/1.1' | 'HTTP/2';
  /** 'grpc' for a gRPC request (content-type application/grpc), else 'http'. */
  protocol: 'http' | 'grpc';
  /** The status sent to the client; 0 when no response had started (DC). */
  status: number;
  /** grpc-status from the response trailers (or headers, for a trailers-only response). */
  grpcStatus?: number | undefined;
  /** NO_FLAGS when none. */
  responseFlags: readonly ResponseFlag[];
  /** Why the waypoint answered what it did ('via_upstream', 'route_not_found', ...), Envoy-style. */
  responseCodeDetails?: string | undefined;
  /** Set when L7 authorization refused the request: the policy that denied, or undefined for an ALLOW miss. */
  denied?: { policy: DenyingPolicy | undefined } | undefined;
  /** Request body bytes received from the client. */
  bytesReceived: number;
  /** Response body bytes sent to the client. */
  bytesSent: number;
  /** From the first request byte to the last response byte. */
  durationMs: number;
  /** '<namespace>/<route name>' of the HTTPRoute/GRPCRoute that matched. */
  routeName?: string | undefined;
  /** Upstream attempts made: 1 without retries, 0 when none was (local reply). */
  attempts: number;
  requestId: string;
  traceId?: string | undefined;
  /** The waypoint's own span id (the parent id it sent upstream in traceparent). */
  spanId?: string | undefined;
  /** ip:port of the endpoint of the last attempt. */
  upstreamHost?: string | undefined;
  userAgent?: string | undefined;
}

/** One L4 connection the waypoint relayed without reading it as HTTP. */
export interface TcpConnectionRecord extends TrafficPeers {
  startTime: number;
  responseFlags: readonly ResponseFlag[];
  /** Bytes from the client to the upstream. */
  bytesReceived: number;
  /** Bytes from the upstream to the client. */
  bytesSent: number;
  durationMs: number;
  upstreamHost?: string | undefined;
}

// Discovery swaps Workload objects on every change, so an object seen again is the same
// workload with the same labels: the cache needs no invalidation and lets go with the object.
const labelsByWorkload = new WeakMap<Workload, WorkloadLabels>();

/**
 * A workload's labels. `app` and `version` come from its canonical service and revision: those
 * default to the pod's `app` and `version` labels (service.istio.io/canonical-name / -revision
 * when set), which the discovery Workload does not carry separately.
 */
export function workloadLabels(workload: Workload, cluster = 'Kubernetes'): WorkloadLabels {
  let labels = labelsByWorkload.get(workload);
  if (labels === undefined || labels.cluster !== cluster) {
    labels = Object.freeze({
      workload: workload.workloadName || workload.name,
      namespace: workload.namespace,
      principal: workload.identity,
      app: workload.canonicalName || 'unknown',
      version: workload.canonicalRevision || 'unknown',
      canonicalService: workload.canonicalName || workload.workloadName || workload.name,
      canonicalRevision: workload.canonicalRevision || 'latest',
      cluster,
    });
    labelsByWorkload.set(workload, labels);
  }
  return labels;
}
