// DestinationRule trafficPolicy → the waypoint's per-service TrafficPolicy (connection pool,
// outlier detection, load balancer or consistent hash). Several rules for one host: the oldest
// wins, as in Istio. A field Istio's own validation refuses makes the rule Invalid, naming it.
import type { ConnectionPool, ConsistentHash, HttpCookie, LoadBalancer, OutlierDetection, TrafficPolicy } from '@ambient/api';
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
    // An explicit 0 stays (consecutive5xxErrors: 0 turns that check off; absent means 5).
    out.outlierDetection = compact<OutlierDetection>({
      consecutive_5xxErrors: count(od.consecutive5xxErrors, 'outlierDetection.consecutive5xxErrors'),
      consecutiveGatewayErrors: count(od.consecutiveGatewayErrors, 'outlierDetection.consecutiveGatewayErrors'),
      intervalMs: duration(od.interval, 'outlierDetection.interval', 1),
      baseEjectionTimeMs: duration(od.baseEjectionTime, 'outlierDetection.baseEjectionTime', 1),
      maxEjectionPercent: count(od.maxEjectionPercent, 'outlierDetection.maxEjectionPercent', 100),
      minHealthPercent: count(od.minHealthPercent, 'outlierDetection.minHealthPercent', 100),
    });
  }
  const lbSettings = tp.loadBalancer ?? {};
  const simple = lbSettings.simple;
  if (simple !== undefined && lbSettings.consistentHash !== undefined)
    throw new InvalidRuleError('invalid trafficPolicy.loadBalancer: set simple or consistentHash, not both');
  if (simple !== undefined) {
    const lb = loadBalancers[simple];
    if (lb === undefined) throw new InvalidRuleError(`invalid trafficPolicy.loadBalancer.simple "${simple}"`);
    out.loadBalancer = lb;
  }
  if (lbSettings.consistentHash !== undefined) out.consistentHash = consistentHash(lbSettings.consistentHash);
  return out;
}

const HASH_KEYS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const;
/** Istio's limit on maglev.tableSize; also where a larger ringHash.minimumRingSize is capped. */
const MAX_TABLE_SIZE = 5_000_011;
/** Envoy's maglev default, and the smallest table a ringHash gets. */
const MAGLEV_DEFAULT = 65_537;
/** Envoy's bound on ring_hash minimum_ring_size. */
const MAX_RING_SIZE = 8_388_608;
// RFC 9110 token: header names and (RFC 6265) cookie names.
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The waypoint implements one table, Maglev: `maglev.tableSize` is used as written (Istio requires
 * a prime; default 65537, Envoy's). `ringHash.minimumRingSize` (or the deprecated top-level
 * `minimumRingSize`) is a lower bound on the same table, which is never smaller than 65537 slots:
 * what a ring user expects is that a change of n endpoints moves about 1/n of the keys, and a
 * Maglev table keeps that only with ~100 slots per endpoint (Envoy's ring default of 1024 would
 * move several times more). The waypoint rounds a ring size up to a prime.
 */
function consistentHash(v: unknown): ConsistentHash {
  const f = 'loadBalancer.consistentHash';
  const ch = object(v, f);
  const set = HASH_KEYS.filter((k) => ch[k] !== undefined && ch[k] !== null && ch[k] !== false);
  if (set.length !== 1)
    throw new InvalidRuleError(`invalid trafficPolicy.${f}: set exactly one of ${HASH_KEYS.join(', ')}, got ${set.length === 0 ? 'none' : set.join(', ')}`);
  const out: ConsistentHash = {};
  switch (set[0]!) {
    case 'httpHeaderName':
      out.httpHeaderName = name(ch.httpHeaderName, `${f}.httpHeaderName`, 'a header name').toLowerCase();
      break;
    case 'httpCookie': {
      const c = object(ch.httpCookie, `${f}.httpCookie`);
      const cookie: HttpCookie = { name: name(c.name, `${f}.httpCookie.name`, 'a cookie name') };
      if (c.path !== undefined && c.path !== null) {
        if (typeof c.path !== 'string' || !c.path.startsWith('/') || /[;\s]/.test(c.path))
          throw new InvalidRuleError(`invalid trafficPolicy.${f}.httpCookie.path ${JSON.stringify(c.path)}: expected a path starting with /`);
        cookie.path = c.path;
      }
      const ttl = duration(c.ttl, `${f}.httpCookie.ttl`, 0);
      if (ttl !== undefined) cookie.ttlMs = ttl;
      out.httpCookie = cookie;
      break;
    }
    case 'useSourceIp':
      if (ch.useSourceIp !== true) throw new InvalidRuleError(`invalid trafficPolicy.${f}.useSourceIp ${JSON.stringify(ch.useSourceIp)}: expected true`);
      out.useSourceIp = true;
      break;
    case 'httpQueryParameterName':
      if (typeof ch.httpQueryParameterName !== 'string' || ch.httpQueryParameterName === '')
        throw new InvalidRuleError(`invalid trafficPolicy.${f}.httpQueryParameterName ${JSON.stringify(ch.httpQueryParameterName)}: expected a parameter name`);
      out.httpQueryParameterName = ch.httpQueryParameterName;
      break;
  }
  if (ch.ringHash !== undefined && ch.maglev !== undefined) throw new InvalidRuleError(`invalid trafficPolicy.${f}: set ringHash or maglev, not both`);
  if (ch.maglev !== undefined) {
    const size = count(object(ch.maglev, `${f}.maglev`).tableSize, `${f}.maglev.tableSize`, MAX_TABLE_SIZE) || MAGLEV_DEFAULT;
    if (!isPrime(size)) throw new InvalidRuleError(`invalid trafficPolicy.${f}.maglev.tableSize ${size}: expected a prime number`);
    out.tableSize = size;
  } else {
    const ring = ch.ringHash === undefined ? undefined : object(ch.ringHash, `${f}.ringHash`);
    const size =
      ring !== undefined
        ? count(ring.minimumRingSize, `${f}.ringHash.minimumRingSize`, MAX_RING_SIZE)
        : count(ch.minimumRingSize, `${f}.minimumRingSize`, MAX_RING_SIZE);
    out.tableSize = Math.min(Math.max(size ?? 0, MAGLEV_DEFAULT), MAX_TABLE_SIZE);
  }
  return out;
}

function object(v: unknown, field: string): Manifest {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InvalidRuleError(`invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected an object`);
  return v as Manifest;
}

function name(v: unknown, field: string, what: string): string {
  if (typeof v !== 'string' || !token.test(v)) throw new InvalidRuleError(`invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected ${what}`);
  return v;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function count(v: unknown, field: string, max = 0xffffffff): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    throw new InvalidRuleError(
      `invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected ${max === 0xffffffff ? 'a non-negative integer' : `an integer 0-${max}`}`,
    );
  return v;
}

/** Milliseconds; `min` 1 where Istio requires at least 1ms (a 0 on the wire means "the default"). */
function duration(v: unknown, field: string, min: 0 | 1 = 0): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = parseDurationMs(v);
  if (ms === undefined) throw new InvalidRuleError(`invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected a duration like "1s" or "500ms"`);
  if (ms < min || ms > 0xffffffff)
    throw new InvalidRuleError(`invalid trafficPolicy.${field} ${JSON.stringify(v)}: expected ${min === 1 ? 'at least 1ms and ' : ''}less than 49 days`);
  return ms;
}
