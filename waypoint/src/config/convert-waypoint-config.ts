// Wire WaypointConfig → domain WaypointConfig: every field checked, proto3 defaults filled in,
// every regular expression compiled once to prove it can be, so the router and the policy stack
// never meet a value they cannot use. A malformed resource is NACKed whole and the waypoint
// keeps its last good config (the discovery client ACKs only what validates).
import type {
  BackendRef,
  ConsistentHash,
  Filter,
  HeaderModifier,
  HeaderStringMatch,
  L7Authorization,
  L7Match,
  OutlierDetection,
  PathModifier,
  Route,
  RouteMatch,
  RouteRule,
  ServiceConfig,
  TrafficPolicy,
  ValueMatch,
  WaypointConfig,
} from '@ambient/api';
import { parseSpiffeId } from '@ambient/api';
import {
  FieldError,
  asObject,
  bool,
  ip,
  list,
  oneOf,
  optionalObject,
  port,
  requiredStr,
  str,
  strings,
  toGatewayAddress,
  toMatch,
  toPort,
  toStringMatch,
  type Wire,
} from '@ambient/api/proxy-runtime';

export function toWaypointConfig(name: string, payload: unknown): WaypointConfig {
  const p = 'waypointConfig';
  const o = asObject(payload, p);
  const config: WaypointConfig = {
    namespace: requiredStr(o, 'namespace', p),
    name: requiredStr(o, 'name', p),
    identity: requiredStr(o, 'identity', p),
    waypointFor: oneOf(o, 'waypointFor', ['service', 'workload', 'all', 'none'] as const, p),
    services: list(o, 'services', p).map((s, i) => toServiceConfig(s, `${p}.services[${i}]`)),
    authorizations: list(o, 'authorizations', p).map((a, i) => toL7Authorization(a, `${p}.authorizations[${i}]`)),
    extensions: list(o, 'extensions', p).map((e, i) => {
      const ep = `${p}.extensions[${i}]`;
      const x = asObject(e, ep);
      return {
        apiVersion: str(x, 'apiVersion', ep),
        kind: str(x, 'kind', ep),
        namespace: str(x, 'namespace', ep),
        name: str(x, 'name', ep),
        specJson: str(x, 'specJson', ep),
      };
    }),
  };
  if (`${config.namespace}/${config.name}` !== name)
    throw new FieldError(`waypoint key ${JSON.stringify(`${config.namespace}/${config.name}`)} does not match the resource name`);
  if (parseSpiffeId(config.identity) === undefined) throw new FieldError(`${p}.identity ${JSON.stringify(config.identity)} is not a spiffe id`);
  const address = optionalObject(o, 'address', p);
  if (address !== undefined) config.address = toGatewayAddress(address, `${p}.address`);
  return config;
}

function toServiceConfig(v: unknown, path: string): ServiceConfig {
  const o = asObject(v, path);
  const sc: ServiceConfig = {
    name: requiredStr(o, 'name', path),
    namespace: requiredStr(o, 'namespace', path),
    hostname: requiredStr(o, 'hostname', path),
    addresses: list(o, 'addresses', path).map((a, i) => ip(a, `${path}.addresses[${i}]`)),
    ports: list(o, 'ports', path).map((x, i) => toPort(x, `${path}.ports[${i}]`)),
    routes: list(o, 'routes', path).map((r, i) => toRoute(r, `${path}.routes[${i}]`)),
  };
  const tp = optionalObject(o, 'trafficPolicy', path);
  if (tp !== undefined) sc.trafficPolicy = toTrafficPolicy(tp, `${path}.trafficPolicy`);
  return sc;
}

function toRoute(v: unknown, path: string): Route {
  const o = asObject(v, path);
  return {
    name: requiredStr(o, 'name', path),
    kind: oneOf(o, 'kind', ['HTTPRoute', 'GRPCRoute'] as const, path),
    port: port(o.port, `${path}.port`, true),
    rules: list(o, 'rules', path).map((r, i) => toRouteRule(r, `${path}.rules[${i}]`)),
  };
}

function toRouteRule(v: unknown, path: string): RouteRule {
  const o = asObject(v, path);
  const rule: RouteRule = {
    matches: list(o, 'matches', path).map((m, i) => toRouteMatch(m, `${path}.matches[${i}]`)),
    backends: list(o, 'backends', path).map((b, i) => toBackendRef(b, `${path}.backends[${i}]`)),
    filters: list(o, 'filters', path).map((f, i) => toFilter(f, `${path}.filters[${i}]`)),
  };
  const timeouts = optionalObject(o, 'timeouts', path);
  if (timeouts !== undefined)
    rule.timeouts = {
      requestMs: count(timeouts.requestMs, `${path}.timeouts.requestMs`),
      backendRequestMs: count(timeouts.backendRequestMs, `${path}.timeouts.backendRequestMs`),
    };
  const retry = optionalObject(o, 'retry', path);
  if (retry !== undefined) {
    rule.retry = {
      attempts: count(retry.attempts, `${path}.retry.attempts`),
      backoffMs: count(retry.backoffMs, `${path}.retry.backoffMs`),
      codes: list(retry, 'codes', `${path}.retry`).map((c, i) => status(c, `${path}.retry.codes[${i}]`, 400, 599)),
    };
  }
  const direct = count(o.directResponseStatus, `${path}.directResponseStatus`);
  if (direct !== 0) rule.directResponseStatus = status(direct, `${path}.directResponseStatus`, 200, 599);
  return rule;
}

function toRouteMatch(v: unknown, path: string): RouteMatch {
  const o = asObject(v, path);
  const m: RouteMatch = {};
  const pm = optionalObject(o, 'path', path);
  if (pm !== undefined) {
    const type = oneOf(pm, 'type', ['PATH_PREFIX', 'EXACT', 'REGULAR_EXPRESSION'] as const, `${path}.path`);
    const value = str(pm, 'value', `${path}.path`);
    if (type === 'REGULAR_EXPRESSION') regex(value, `${path}.path.value`);
    else if (!value.startsWith('/')) throw new FieldError(`${path}.path.value ${JSON.stringify(value)} must start with /`);
    m.path = { type, value };
  }
  const headers = list(o, 'headers', path).map((h, i) => toValueMatch(h, `${path}.headers[${i}]`));
  const query = list(o, 'queryParams', path).map((h, i) => toValueMatch(h, `${path}.queryParams[${i}]`));
  if (headers.length > 0) m.headers = headers;
  if (query.length > 0) m.queryParams = query;
  for (const f of ['method', 'grpcService', 'grpcMethod'] as const) {
    const s = str(o, f, path);
    if (s !== '') m[f] = s;
  }
  return m;
}

function toValueMatch(v: unknown, path: string): ValueMatch {
  const o = asObject(v, path);
  const type = oneOf(o, 'type', ['VALUE_EXACT', 'VALUE_REGULAR_EXPRESSION'] as const, path);
  const value = str(o, 'value', path);
  if (type === 'VALUE_REGULAR_EXPRESSION') regex(value, `${path}.value`);
  return { name: requiredStr(o, 'name', path), type, value };
}

function toBackendRef(v: unknown, path: string): BackendRef {
  const o = asObject(v, path);
  return { hostname: requiredStr(o, 'hostname', path), port: port(o.port, `${path}.port`, true), weight: count(o.weight, `${path}.weight`) };
}

function toFilter(v: unknown, path: string): Filter {
  const o = asObject(v, path);
  // protobufjs (oneofs: true) adds a virtual "type" naming the member that is set.
  const set = Object.entries(o).filter(([key, value]) => key !== 'type' && value !== undefined && value !== null);
  if (set.length !== 1) throw new FieldError(`${path} must set exactly one filter, got ${JSON.stringify(Object.keys(o))}`);
  const [kind, raw] = set[0]!;
  const fp = `${path}.${kind}`;
  const f = asObject(raw, fp);
  switch (kind) {
    case 'requestHeaderModifier':
      return { requestHeaderModifier: toHeaderModifier(f, fp) };
    case 'responseHeaderModifier':
      return { responseHeaderModifier: toHeaderModifier(f, fp) };
    case 'requestRedirect': {
      const r = {
        scheme: str(f, 'scheme', fp),
        hostname: str(f, 'hostname', fp),
        port: port(f.port, `${fp}.port`, true),
        statusCode: count(f.statusCode, `${fp}.statusCode`) || 302,
      };
      if (![301, 302, 303, 307, 308].includes(r.statusCode)) throw new FieldError(`${fp}.statusCode ${r.statusCode} is not a redirect status`);
      if (r.scheme !== '' && r.scheme !== 'http' && r.scheme !== 'https') throw new FieldError(`${fp}.scheme ${JSON.stringify(r.scheme)} is not http or https`);
      const pm = optionalObject(f, 'path', fp);
      return { requestRedirect: pm === undefined ? r : { ...r, path: toPathModifier(pm, `${fp}.path`) } };
    }
    case 'urlRewrite': {
      const pm = optionalObject(f, 'path', fp);
      const hostname = str(f, 'hostname', fp);
      return { urlRewrite: { ...(hostname ? { hostname } : {}), ...(pm ? { path: toPathModifier(pm, `${fp}.path`) } : {}) } };
    }
    case 'requestMirror': {
      const backend = optionalObject(f, 'backend', fp);
      if (backend === undefined) throw new FieldError(`${fp}.backend is required`);
      return { requestMirror: { backend: toBackendRef(backend, `${fp}.backend`), percent: count(f.percent, `${fp}.percent`, 100) } };
    }
    default:
      throw new FieldError(`${path} has unknown filter ${JSON.stringify(kind)}`);
  }
}

function toHeaderModifier(o: Wire, path: string): HeaderModifier {
  const pairs = (field: string) =>
    list(o, field, path).map((h, i) => {
      const hp = `${path}.${field}[${i}]`;
      const x = asObject(h, hp);
      return { name: header(requiredStr(x, 'name', hp), `${hp}.name`), value: str(x, 'value', hp) };
    });
  return { set: pairs('set'), add: pairs('add'), remove: strings(o, 'remove', path).map((n, i) => header(n, `${path}.remove[${i}]`)) };
}

function toPathModifier(o: Wire, path: string): PathModifier {
  const value = str(o, 'value', path);
  if (!value.startsWith('/')) throw new FieldError(`${path}.value ${JSON.stringify(value)} must start with /`);
  return { type: oneOf(o, 'type', ['REPLACE_FULL_PATH', 'REPLACE_PREFIX_MATCH'] as const, path), value };
}

function toTrafficPolicy(o: Wire, path: string): TrafficPolicy {
  const tp: TrafficPolicy = {
    name: requiredStr(o, 'name', path),
    loadBalancer: oneOf(o, 'loadBalancer', ['LB_UNSPECIFIED', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'PASSTHROUGH'] as const, path),
  };
  const cp = optionalObject(o, 'connectionPool', path);
  if (cp !== undefined) {
    tp.connectionPool = {};
    for (const [k, v] of Object.entries(cp)) (tp.connectionPool as Record<string, number>)[k] = count(v, `${path}.connectionPool.${k}`);
  }
  const od = optionalObject(o, 'outlierDetection', path);
  if (od !== undefined) tp.outlierDetection = toOutlierDetection(od, `${path}.outlierDetection`);
  const ch = optionalObject(o, 'consistentHash', path);
  if (ch !== undefined) tp.consistentHash = toConsistentHash(ch, `${path}.consistentHash`);
  return tp;
}

/**
 * Fields are read by name: an `optional` one is copied only when present (protobufjs leaves an
 * absent one out), so the picker can tell Istio's "0 = off" from "absent = default". The virtual
 * `_<field>` keys protobufjs adds for those are not fields and are skipped.
 */
function toOutlierDetection(o: Wire, path: string): OutlierDetection {
  const od: OutlierDetection = {};
  for (const f of ['consecutive_5xxErrors', 'consecutiveGatewayErrors', 'intervalMs', 'baseEjectionTimeMs'] as const) {
    if (o[f] !== undefined) od[f] = count(o[f], `${path}.${f}`);
  }
  for (const f of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    if (o[f] !== undefined) od[f] = count(o[f], `${path}.${f}`, 100);
  }
  return od;
}

/** Istio's limit on a Maglev table (istiod-lite caps ring sizes there too). */
const MAX_TABLE_SIZE = 5_000_011;
const HASH_KEYS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const;

function toConsistentHash(o: Wire, path: string): ConsistentHash {
  const set = HASH_KEYS.filter((k) => o[k] !== undefined && o[k] !== null && o[k] !== false && o[k] !== '');
  if (set.length !== 1) throw new FieldError(`${path} must set exactly one of ${HASH_KEYS.join(', ')}, got ${set.length === 0 ? 'none' : set.join(', ')}`);
  const ch: ConsistentHash = {};
  const tableSize = count(o.tableSize, `${path}.tableSize`, MAX_TABLE_SIZE);
  if (tableSize !== 0) ch.tableSize = tableSize;
  switch (set[0]!) {
    case 'httpHeaderName':
      ch.httpHeaderName = header(str(o, 'httpHeaderName', path), `${path}.httpHeaderName`);
      break;
    case 'httpCookie': {
      const cp = `${path}.httpCookie`;
      const c = asObject(o.httpCookie, cp);
      const name = requiredStr(c, 'name', cp);
      if (!cookieName.test(name)) throw new FieldError(`${cp}.name ${JSON.stringify(name)} is not a cookie name`);
      const cookiePath = str(c, 'path', cp);
      if (cookiePath !== '' && (!cookiePath.startsWith('/') || /[;\s]/.test(cookiePath)))
        throw new FieldError(`${cp}.path ${JSON.stringify(cookiePath)} is not a cookie path`);
      ch.httpCookie = { name, ...(cookiePath !== '' ? { path: cookiePath } : {}), ...(c.ttlMs !== undefined ? { ttlMs: count(c.ttlMs, `${cp}.ttlMs`) } : {}) };
      break;
    }
    case 'useSourceIp':
      if (bool(o, 'useSourceIp', path)) ch.useSourceIp = true;
      break;
    case 'httpQueryParameterName':
      ch.httpQueryParameterName = str(o, 'httpQueryParameterName', path);
      break;
  }
  return ch;
}

const l7StringFields = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths', 'requestPrincipals', 'notRequestPrincipals'] as const;

function toL7Authorization(v: unknown, path: string): L7Authorization {
  const o = asObject(v, path);
  return {
    name: requiredStr(o, 'name', path),
    namespace: requiredStr(o, 'namespace', path),
    action: oneOf(o, 'action', ['ALLOW', 'DENY'] as const, path),
    targets: strings(o, 'targets', path),
    rules: list(o, 'rules', path).map((r, i) => {
      const rp = `${path}.rules[${i}]`;
      return {
        clauses: list(asObject(r, rp), 'clauses', rp).map((c, j) => {
          const cp = `${rp}.clauses[${j}]`;
          return { matches: list(asObject(c, cp), 'matches', cp).map((m, k) => toL7Match(m, `${cp}.matches[${k}]`)) };
        }),
      };
    }),
  };
}

function toL7Match(v: unknown, path: string): L7Match {
  const o = asObject(v, path);
  // The L4 fields read exactly as ztunnel reads them; a waypoint never sees destination IPs.
  const { destinationIps: _d, notDestinationIps: _nd, ...l4 } = toMatch({ ...o, destinationIps: [], notDestinationIps: [] }, path);
  const m: L7Match = { ...l4 };
  for (const f of l7StringFields) m[f] = list(o, f, path).map((s, i) => toStringMatch(s, `${path}.${f}[${i}]`));
  const headers = (field: 'headers' | 'notHeaders'): HeaderStringMatch[] =>
    list(o, field, path).map((h, i) => {
      const hp = `${path}.${field}[${i}]`;
      const x = asObject(h, hp);
      return { name: requiredStr(x, 'name', hp).toLowerCase(), values: list(x, 'values', hp).map((s, j) => toStringMatch(s, `${hp}.values[${j}]`)) };
    });
  m.headers = headers('headers');
  m.notHeaders = headers('notHeaders');
  return m;
}

/** A non-negative integer (proto3 uint32: absent is 0), at most `max`. */
function count(v: unknown, path: string, max = 0xffffffff): number {
  const n = v ?? 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) throw new FieldError(`${path} ${JSON.stringify(v)} is not an integer 0-${max}`);
  return n;
}

function status(v: unknown, path: string, min: number, max: number): number {
  const n = count(v, path);
  if (n < min || n > max) throw new FieldError(`${path} ${n} is not a status ${min}-${max}`);
  return n;
}

function regex(source: string, path: string): void {
  try {
    new RegExp(source);
  } catch {
    throw new FieldError(`${path} ${JSON.stringify(source)} is not a valid regular expression`);
  }
}

const headerName = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// RFC 6265 cookie-name: an RFC 9110 token, case kept.
const cookieName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function header(name: string, path: string): string {
  const lower = name.toLowerCase();
  if (!headerName.test(lower)) throw new FieldError(`${path} ${JSON.stringify(name)} is not a header name`);
  return lower;
}
