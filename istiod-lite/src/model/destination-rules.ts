// DestinationRule trafficPolicy → the waypoint's per-service TrafficPolicy (connection pool,
// outlier detection, load balancer). Several rules for one host: the oldest wins, as in Istio.
import type { ConnectionPool, LoadBalancer, OutlierDetection, TrafficPolicy } from '@ambient/api';
import { parseDurationMs } from './duration.ts';
import type { KubeObject, Manifest, MeshOptions } from './inputs.ts';
import { keyOf, namespaceOf, oldestFirst } from './kube-object.ts';
import { conditionStatusOf, type ObjectStatus } from './object-status.ts';
import { compact } from './policy-values.ts';
import { MeshError } from '@ambient/api';

const loadBalancers: Record<string, LoadBalancer> = {
  UNSPECIFIED: 'LB_UNSPECIFIED',
  ROUND_ROBIN: 'ROUND_ROBIN',
  LEAST_REQUEST: 'LEAST_REQUEST',
  LEAST_CONN: 'LEAST_REQUEST',
  RANDOM: 'RANDOM',
  PASSTHROUGH: 'PASSTHROUGH',
};

/** A rule the model leaves out; its message becomes the object's Invalid condition. */
class InvalidRuleError extends MeshError<'ERR_INVALID_POLICY'> {
  constructor(message: string) {
    super('ERR_INVALID_POLICY', message);
  }
}

/** "<full hostname>" → policy; short hosts ("reviews") are relative to the rule's namespace. */
export function compileDestinationRules(rules: readonly KubeObject[], opts: MeshOptions): { policies: Map<string, TrafficPolicy>; statuses: ObjectStatus[] } {
  const policies = new Map<string, TrafficPolicy>();
  const statuses: ObjectStatus[] = [];
  for (const dr of [...rules].sort(oldestFirst)) {
    const toStatus = conditionStatusOf(dr, 'DestinationRule', 'networking.istio.io/v1', 'WaypointAccepted');
    const status = (ok: boolean, reason: string, message: string): void => void statuses.push(toStatus(ok, reason, message));
    const host = dr.spec?.host;
    if (typeof host !== 'string' || host === '') {
      status(false, 'Invalid', 'spec.host is required');
      continue;
    }
    const hostname = host.includes('.') ? host : `${host}.${namespaceOf(dr)}.svc.${opts.clusterDomain}`;
    try {
      const policy = trafficPolicy(dr.spec?.trafficPolicy ?? {}, keyOf(dr));
      if (policies.has(hostname)) {
        status(false, 'Conflicted', `host ${hostname} already has DestinationRule ${policies.get(hostname)!.name}, which is older`);
        continue;
      }
      policies.set(hostname, policy);
      status(true, 'Accepted', `applies to ${hostname}`);
    } catch (err) {
      if (!(err instanceof InvalidRuleError)) throw err;
      status(false, 'Invalid', err.message);
    }
  }
  return { policies, statuses };
}

function trafficPolicy(tp: Manifest, name: string): TrafficPolicy {
  const out: TrafficPolicy = { name };
  const tcp = tp.connectionPool?.tcp ?? {};
  const http = tp.connectionPool?.http ?? {};
  if (tp.connectionPool) {
    out.connectionPool = compact<ConnectionPool>({
      maxConnections: count(tcp.maxConnections, 'connectionPool.tcp.maxConnections'),
      connectTimeoutMs: duration(tcp.connectTimeout, 'connectionPool.tcp.connectTimeout'),
      http1MaxPendingRequests: count(http.http1MaxPendingRequests, 'connectionPool.http.http1MaxPendingRequests'),
      http2MaxRequests: count(http.http2MaxRequests, 'connectionPool.http.http2MaxRequests'),
      maxRequestsPerConnection: count(http.maxRequestsPerConnection, 'connectionPool.http.maxRequestsPerConnection'),
      maxRetries: count(http.maxRetries, 'connectionPool.http.maxRetries'),
      idleTimeoutMs: duration(http.idleTimeout, 'connectionPool.http.idleTimeout'),
    });
  }
  const od = tp.outlierDetection;
  if (od) {
    out.outlierDetection = compact<OutlierDetection>({
      consecutive_5xxErrors: count(od.consecutive5xxErrors, 'outlierDetection.consecutive5xxErrors'),
      consecutiveGatewayErrors: count(od.consecutiveGatewayErrors, 'outlierDetection.consecutiveGatewayErrors'),
      intervalMs: duration(od.interval, 'outlierDetection.interval'),
      baseEjectionTimeMs: duration(od.baseEjectionTime, 'outlierDetection.baseEjectionTime'),
      maxEjectionPercent: count(od.maxEjectionPercent, 'outlierDetection.maxEjectionPercent'),
    });
  }
  const simple = tp.loadBalancer?.simple;
  if (simple !== undefined) {
    const lb = loadBalancers[simple];
    if (lb === undefined) throw new InvalidRuleError(`invalid trafficPolicy.loadBalancer.simple "${simple}"`);
    out.loadBalancer = lb;
  }
  return out;
}

function count(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new InvalidRuleError(`invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected a non-negative integer`);
  return v;
}

function duration(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = parseDurationMs(v);
  if (ms === undefined) throw new InvalidRuleError(`invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected a duration like "1s" or "500ms"`);
  return ms;
}
