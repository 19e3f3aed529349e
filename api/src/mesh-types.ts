// TypeScript shapes of the mesh resources in api/proto/ambient/workload/v1/workload.proto and
// api/proto/ambient/waypoint/v1/waypoint.proto: protobufjs plain objects with lowerCamelCase
// fields and enums as their string names ({ enums: String, longs: Number }).
//
// Fields marked optional are the ones whose proto3 zero value (NONE, HEALTHY, ALLOW, 0, '',
// false, empty list/map, unset message) a decoder with `defaults: false` leaves out: readers
// must treat "absent" as that zero value. The model always fills them.

export type TunnelProtocol = 'NONE' | 'HBONE';
export type WorkloadStatus = 'HEALTHY' | 'UNHEALTHY';
export type AuthorizationScope = 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';
export type AuthorizationAction = 'ALLOW' | 'DENY';

// ---------------------------------------------------------------- ambient.workload.v1

export interface GatewayAddress {
  address: string; // the waypoint Service's ClusterIP
  hostname: string; // "<namespace>/<hostname>" of the waypoint Service
  hboneMtlsPort: number; // 15008
  identity: string; // the waypoint's SPIFFE identity
}

export interface Port {
  servicePort: number;
  targetPort?: number; // resolved; 0/absent: the service port
  name?: string;
  appProtocol?: string;
}

export interface PortList {
  ports?: Port[];
}

export interface Workload {
  uid: string;
  name: string;
  namespace: string;
  node?: string;
  addresses?: string[];
  serviceAccount?: string;
  trustDomain?: string;
  identity: string; // spiffe://<td>/ns/<ns>/sa/<sa>
  tunnelProtocol?: TunnelProtocol;
  waypoint?: GatewayAddress;
  /** istio.io/use-waypoint names a waypoint that cannot be used: why (traffic is refused, not sent around it). */
  waypointUnavailable?: string;
  status?: WorkloadStatus;
  canonicalName?: string;
  canonicalRevision?: string;
  workloadName?: string;
  workloadType?: string;
  /** "<namespace>/<hostname>" of each service selecting this workload → its ports. */
  services?: Record<string, PortList>;
  /** "<namespace>/<name>" of the WORKLOAD_SELECTOR authorizations that apply. */
  authorizationPolicies?: string[];
  hostNetwork?: boolean;
  /** The workload handles the tunnel itself (an injected sidecar): HBONE on its own 15008; ztunnel does not capture it. */
  nativeTunnel?: boolean;
}

export interface Endpoint {
  workloadUid: string;
  address?: string;
  /** service port → target port for this workload (proto map<uint32,uint32>: keys are strings). */
  ports?: Record<string, number>;
  ready?: boolean;
}

export interface Service {
  name: string;
  namespace: string;
  hostname: string;
  addresses?: string[];
  ports?: Port[];
  waypoint?: GatewayAddress;
  /** As on Workload. */
  waypointUnavailable?: string;
  endpoints?: Endpoint[];
}

/** The Address resource: exactly one of the two is set. */
export type Address = { workload: Workload; service?: undefined } | { service: Service; workload?: undefined };

/** Exactly one field set; `presence: true` matches any non-empty value. */
export type StringMatch = { exact: string } | { prefix: string } | { suffix: string } | { presence: boolean };

export interface Cidr {
  address: string;
  length?: number;
}

/** Every non-empty field must match (AND); within a field any value (OR); not* must not. */
export interface Match {
  namespaces?: StringMatch[];
  notNamespaces?: StringMatch[];
  principals?: StringMatch[]; // without "spiffe://", e.g. "cluster.local/ns/a/sa/b"
  notPrincipals?: StringMatch[];
  sourceIps?: Cidr[];
  notSourceIps?: Cidr[];
  destinationIps?: Cidr[];
  notDestinationIps?: Cidr[];
  destinationPorts?: number[];
  notDestinationPorts?: number[];
}

export interface Clause {
  matches?: Match[]; // OR
}

export interface Rule {
  clauses?: Clause[]; // AND; none = matches everything
}

export interface Authorization {
  name: string;
  namespace: string;
  scope?: AuthorizationScope;
  action?: AuthorizationAction;
  rules?: Rule[]; // OR; ALLOW with no rules matches nothing
  warnings?: string[];
}

// ---------------------------------------------------------------- ambient.waypoint.v1

export type WaypointFor = 'service' | 'workload' | 'all' | 'none';
export type PathMatchType = 'PATH_PREFIX' | 'EXACT' | 'REGULAR_EXPRESSION';
export type ValueMatchType = 'VALUE_EXACT' | 'VALUE_REGULAR_EXPRESSION';
export type PathModifierType = 'REPLACE_FULL_PATH' | 'REPLACE_PREFIX_MATCH';
export type LoadBalancer = 'LB_UNSPECIFIED' | 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH';

export interface PathMatch {
  type?: PathMatchType; // absent: PATH_PREFIX
  value?: string;
}

export interface ValueMatch {
  name: string; // header names lower-cased
  type?: ValueMatchType; // absent: VALUE_EXACT
  value?: string;
}

export interface RouteMatch {
  path?: PathMatch;
  headers?: ValueMatch[];
  queryParams?: ValueMatch[];
  method?: string;
  grpcService?: string;
  grpcMethod?: string;
}

export interface BackendRef {
  hostname: string;
  port?: number;
  weight?: number; // 0 = never picked
}

export interface Header {
  name: string;
  value?: string;
}

export interface HeaderModifier {
  set?: Header[];
  add?: Header[];
  remove?: string[];
}

export interface PathModifier {
  type?: PathModifierType; // absent: REPLACE_FULL_PATH
  value?: string;
}

export interface RequestRedirect {
  scheme?: string;
  hostname?: string;
  path?: PathModifier;
  port?: number;
  statusCode?: number; // 301, 302 (absent), 303, 307 or 308
}

export interface UrlRewrite {
  hostname?: string;
  path?: PathModifier;
}

export interface RequestMirror {
  backend: BackendRef;
  percent?: number; // 0/absent: every request
}

/** Exactly one field set. */
export type Filter =
  | { requestHeaderModifier: HeaderModifier }
  | { responseHeaderModifier: HeaderModifier }
  | { requestRedirect: RequestRedirect }
  | { urlRewrite: UrlRewrite }
  | { requestMirror: RequestMirror };

export interface Timeouts {
  requestMs?: number; // 0/absent: none
  backendRequestMs?: number;
}

export interface Retry {
  attempts?: number;
  backoffMs?: number;
  codes?: number[];
}

export interface RouteRule {
  matches?: RouteMatch[]; // OR; none = everything
  backends?: BackendRef[]; // none = the target service itself
  filters?: Filter[];
  timeouts?: Timeouts;
  retry?: Retry;
  /** Set when every listed backend failed to resolve: answer with this status (500). */
  directResponseStatus?: number;
}

export interface Route {
  name: string; // "<namespace>/<route name>"
  kind: 'HTTPRoute' | 'GRPCRoute';
  port?: number; // 0/absent: every port
  rules?: RouteRule[];
}

export interface ConnectionPool {
  maxConnections?: number;
  connectTimeoutMs?: number;
  http1MaxPendingRequests?: number;
  http2MaxRequests?: number;
  maxRequestsPerConnection?: number;
  maxRetries?: number;
  idleTimeoutMs?: number;
}

/** Istio's outlierDetection; an absent field takes Istio's default, so an explicit 0 is kept apart. */
export interface OutlierDetection {
  consecutive_5xxErrors?: number; // protobufjs camel-cases "consecutive_5xx_errors" this way; absent: 5, 0: off
  consecutiveGatewayErrors?: number; // absent or 0: off
  intervalMs?: number; // absent or 0: 10 s
  baseEjectionTimeMs?: number; // absent or 0: 30 s
  maxEjectionPercent?: number; // absent: 10
  minHealthPercent?: number; // absent or 0: panic only when no endpoint is healthy
}

export interface HttpCookie {
  name: string;
  path?: string;
  ttlMs?: number; // absent: the cookie is never generated; 0: generated as a session cookie
}

/** Istio's consistentHash: exactly one key; one lookup table (Maglev) whatever algorithm was written. */
export interface ConsistentHash {
  httpHeaderName?: string; // lower-cased
  httpCookie?: HttpCookie;
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
  tableSize?: number; // requested table size (rounded up to a prime); absent or 0: 65537
}

export interface TrafficPolicy {
  name: string; // "<namespace>/<DestinationRule name>"
  connectionPool?: ConnectionPool;
  outlierDetection?: OutlierDetection;
  loadBalancer?: LoadBalancer; // ignored when consistentHash is set
  consistentHash?: ConsistentHash;
}

export interface ServiceConfig {
  name: string;
  namespace: string;
  hostname: string;
  addresses?: string[];
  ports?: Port[];
  routes?: Route[]; // precedence order; first matching rule wins
  trafficPolicy?: TrafficPolicy;
}

export interface HeaderStringMatch {
  name: string;
  values?: StringMatch[];
}

export interface L7Match extends Omit<Match, 'destinationIps' | 'notDestinationIps'> {
  hosts?: StringMatch[];
  notHosts?: StringMatch[];
  methods?: StringMatch[];
  notMethods?: StringMatch[];
  paths?: StringMatch[];
  notPaths?: StringMatch[];
  requestPrincipals?: StringMatch[];
  notRequestPrincipals?: StringMatch[];
  headers?: HeaderStringMatch[];
  notHeaders?: HeaderStringMatch[];
}

export interface L7Clause {
  matches?: L7Match[];
}

export interface L7Rule {
  clauses?: L7Clause[];
}

export interface L7Authorization {
  name: string;
  namespace: string;
  action?: AuthorizationAction;
  /** "gateway" (everything through the waypoint) or a bound service's hostname. */
  targets?: string[];
  rules?: L7Rule[];
}

export interface Extension {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  specJson?: string;
}

export interface WaypointConfig {
  namespace: string;
  name: string;
  identity: string;
  waypointFor?: WaypointFor;
  address?: GatewayAddress;
  services?: ServiceConfig[];
  authorizations?: L7Authorization[];
  extensions?: Extension[];
}
