// The waypoint's routing decision: given the service a request addressed (its compiled
// HTTPRoutes/GRPCRoutes) and the request's facts, decide what to do with it. Pure: the caller
// forwards, redirects or answers; randomness for weighted backends is injected.
//
// Order of decisions (each one explained where it is taken):
//   1. no route applies to the port → forward to the service itself, unchanged;
//   2. routes apply: the FIRST rule with a matching match wins (istiod-lite already sorted the
//      entries by Gateway API precedence); none → 404;
//   3. the winning rule: redirect filter → redirect; direct response status → that status;
//      otherwise forward to a weighted backend with the rule's rewrite, header modifiers,
//      mirrors, timeouts and retry.
//
// Regexes and everything else that depends only on the config are compiled once per
// ServiceConfig object (a WeakMap keyed by it): the intake replaces the object when its config
// changes, so a compiled form can never outlive its source. Treat a routed ServiceConfig as
// immutable.
import type {
  BackendRef,
  HeaderModifier,
  PathModifier,
  RequestMirror,
  RequestRedirect,
  Retry,
  Route,
  RouteMatch,
  RouteRule,
  ServiceConfig,
  Timeouts,
  UrlRewrite,
  ValueMatch,
} from '@ambient/api';
import type { HeaderMap, RequestFacts } from '../http/request-facts.ts';

// ---------------------------------------------------------------- the decision

export interface BackendTarget {
  hostname: string;
  port: number;
}

export interface ForwardDecision {
  kind: 'forward';
  /** "<namespace>/<route name>", or '' for the default route to the service itself. */
  route: string;
  /** The matched route's kind (absent for the default route): policies target routes by kind and name. */
  routeKind?: RouteKind;
  /** Index of the rule within the route's `rules`; -1 for the default route. */
  rule: number;
  backend: BackendTarget;
  /** The path to send upstream: after URLRewrite, with the query string. */
  path: string;
  /** URLRewrite's hostname: the upstream Host/:authority. Absent: keep the client's. */
  authority?: string;
  requestHeaders: readonly HeaderModifier[];
  responseHeaders: readonly HeaderModifier[];
  mirrors: readonly RequestMirror[];
  timeouts?: Timeouts;
  retry?: Retry;
}

export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

export type RouteKind = 'HTTPRoute' | 'GRPCRoute';

export interface RedirectDecision {
  kind: 'redirect';
  route: string;
  routeKind: RouteKind;
  rule: number;
  status: RedirectStatus;
  location: string;
}

export interface DirectDecision {
  kind: 'direct';
  route: string;
  routeKind: RouteKind;
  rule: number;
  status: number;
}

export interface NoRouteDecision {
  kind: 'no-route';
  status: 404;
}

export type RouteDecision = ForwardDecision | RedirectDecision | DirectDecision | NoRouteDecision;

/**
 * Chooses one backend given their weights (absent weights already read as 1); returns its index,
 * which must hold a weight > 0. Never called when fewer than two backends can be picked.
 */
export type WeightedPicker = (weights: readonly number[]) => number;

/** The index `random` (in [0, 1)) lands on when each index owns a share of [0, 1) proportional to its weight. */
export function weightedPick(weights: readonly number[], random: number): number {
  let total = 0;
  for (const w of weights) if (w > 0) total += w;
  if (!(total > 0)) throw new RangeError(`weighted pick over ${weights.length} weights that are all 0`);
  let r = random * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!(w > 0)) continue;
    if (r < w) return i;
    r -= w;
    last = i;
  }
  // Floating-point rounding can leave r a hair above the last share.
  return last;
}

export const randomPick: WeightedPicker = (weights) => weightedPick(weights, Math.random());

/** What to do with one request to `service`: forward it, redirect it, or answer it here. */
export function selectRoute(service: ServiceConfig, req: RequestFacts, pick: WeightedPicker = randomPick): RouteDecision {
  const compiled = compileRoutes(service);
  const q = req.path.indexOf('?');
  const view: RequestView = {
    path: q < 0 ? req.path : req.path.slice(0, q),
    query: q < 0 ? '' : req.path.slice(q + 1),
    params: undefined,
    req,
  };
  let applies = false;
  for (const route of compiled.routes) {
    // A route attached with a parentRef port governs that service port only.
    if (route.port !== 0 && route.port !== req.port) continue;
    applies = true;
    // A GRPCRoute describes gRPC calls; a plain HTTP request is not one of them.
    if (route.grpc && req.grpc === undefined) continue;
    for (const rule of route.rules) {
      const prefixLength = matchRule(rule, view);
      if (prefixLength >= 0) return decide(compiled, route, rule, view, prefixLength, pick);
    }
  }
  // Routes are attached to this port and none matched: Gateway API requires 404, and Istio's
  // waypoint builds the port's route table from the routes alone (no catch-all), so Envoy
  // answers 404 with response flag NR.
  if (applies) return noRoute;
  // No route governs this port: the waypoint forwards to the service the client addressed, as
  // Istio's waypoint does with its default inbound route.
  return {
    kind: 'forward',
    route: '',
    rule: -1,
    backend: { hostname: service.hostname, port: req.port },
    path: req.path,
    requestHeaders: none,
    responseHeaders: none,
    mirrors: none,
  };
}

const none: readonly never[] = Object.freeze([]);
const noRoute: NoRouteDecision = Object.freeze({ kind: 'no-route', status: 404 });

// ---------------------------------------------------------------- compiled config

export interface CompiledRoutes {
  hostname: string;
  routes: readonly CompiledRoute[];
}

interface CompiledRoute {
  name: string;
  port: number;
  grpc: boolean;
  rules: readonly CompiledRule[];
}

interface CompiledRule {
  index: number;
  /** Empty: the rule matches every request (of its kind). */
  matches: readonly CompiledMatch[];
  action: RuleAction;
}

type PathMatcher =
  /** `prefix` without its trailing slash ('' for "/"): Gateway API ignores that slash. */
  { kind: 'prefix'; prefix: string } | { kind: 'exact'; value: string } | { kind: 'regex'; re: RegExp | undefined };

type ValueMatcher = { kind: 'exact'; name: string; value: string } | { kind: 'regex'; name: string; re: RegExp | undefined };

interface CompiledMatch {
  path: PathMatcher | undefined;
  headers: readonly ValueMatcher[];
  queryParams: readonly ValueMatcher[];
  method: string;
  grpcService: string;
  grpcMethod: string;
}

type RuleAction =
  | { kind: 'redirect'; redirect: RequestRedirect; status: RedirectStatus }
  | { kind: 'direct'; status: number }
  | {
      kind: 'forward';
      backends: readonly CompiledBackend[];
      weights: readonly number[];
      /** Index of the only backend with weight > 0; -1 when none; -2 when several. */
      sole: number;
      rewrite: UrlRewrite | undefined;
      requestHeaders: readonly HeaderModifier[];
      responseHeaders: readonly HeaderModifier[];
      mirrors: readonly RequestMirror[];
      timeouts: Timeouts | undefined;
      retry: Retry | undefined;
    };

interface CompiledBackend {
  hostname: string;
  /** Set when the backend names its port; otherwise the request's port is used. */
  target: BackendTarget | undefined;
}

const cache = new WeakMap<ServiceConfig, CompiledRoutes>();

/** The service's routes in the form selectRoute evaluates, compiled on first use and cached per object. */
export function compileRoutes(service: ServiceConfig): CompiledRoutes {
  let compiled = cache.get(service);
  if (compiled === undefined) {
    compiled = {
      hostname: service.hostname,
      routes: (service.routes ?? []).map((route) => compileRoute(route, service)),
    };
    cache.set(service, compiled);
  }
  return compiled;
}

function compileRoute(route: Route, service: ServiceConfig): CompiledRoute {
  return {
    name: route.name,
    port: route.port ?? 0,
    grpc: route.kind === 'GRPCRoute',
    rules: (route.rules ?? []).map((rule, index) => ({ index, matches: (rule.matches ?? []).map(compileMatch), action: compileAction(rule, service) })),
  };
}

function compileMatch(m: RouteMatch): CompiledMatch {
  return {
    path: m.path === undefined ? undefined : compilePath(m.path.type ?? 'PATH_PREFIX', m.path.value ?? '/'),
    headers: compileValues(m.headers, true),
    queryParams: compileValues(m.queryParams, false),
    method: m.method ?? '',
    grpcService: m.grpcService ?? '',
    grpcMethod: m.grpcMethod ?? '',
  };
}

function compilePath(type: NonNullable<NonNullable<RouteMatch['path']>['type']>, value: string): PathMatcher {
  switch (type) {
    case 'PATH_PREFIX':
      return { kind: 'prefix', prefix: value.endsWith('/') ? value.slice(0, -1) : value };
    case 'EXACT':
      return { kind: 'exact', value };
    case 'REGULAR_EXPRESSION':
      return { kind: 'regex', re: fullMatch(value) };
  }
}

function compileValues(list: readonly ValueMatch[] | undefined, caseInsensitiveNames: boolean): ValueMatcher[] {
  const out: ValueMatcher[] = [];
  for (const v of list ?? []) {
    const name = caseInsensitiveNames ? v.name.toLowerCase() : v.name;
    // Gateway API: of several entries naming the same header or parameter, only the first counts.
    if (out.some((o) => o.name === name)) continue;
    out.push(v.type === 'VALUE_REGULAR_EXPRESSION' ? { kind: 'regex', name, re: fullMatch(v.value ?? '') } : { kind: 'exact', name, value: v.value ?? '' });
  }
  return out;
}

/**
 * Anchored, as Envoy's safe_regex matches the whole value. istiod-lite has already compiled the
 * pattern with the same engine; one that still does not compile (config from elsewhere) matches
 * nothing rather than failing every request.
 */
function fullMatch(pattern: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return undefined;
  }
}

const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

function compileAction(rule: RouteRule, service: ServiceConfig): RuleAction {
  const requestHeaders: HeaderModifier[] = [];
  const responseHeaders: HeaderModifier[] = [];
  const mirrors: RequestMirror[] = [];
  let redirect: RequestRedirect | undefined;
  let rewrite: UrlRewrite | undefined;
  for (const f of rule.filters ?? []) {
    if ('requestHeaderModifier' in f) requestHeaders.push(f.requestHeaderModifier);
    else if ('responseHeaderModifier' in f) responseHeaders.push(f.responseHeaderModifier);
    else if ('requestMirror' in f) mirrors.push(f.requestMirror);
    // Gateway API allows one redirect or one rewrite per rule; should a config carry more, the first counts.
    else if ('requestRedirect' in f) redirect ??= f.requestRedirect;
    else if ('urlRewrite' in f) rewrite ??= f.urlRewrite;
    else f satisfies never;
  }
  // A redirect answers without reaching any backend, so it holds even when the rule's backends
  // failed to resolve.
  if (redirect !== undefined) {
    const code = redirect.statusCode ?? 302;
    return { kind: 'redirect', redirect, status: redirectStatuses.has(code) ? (code as RedirectStatus) : 302 };
  }
  // istiod-lite sets this when every backend the rule lists failed to resolve (Gateway API: 500).
  if (rule.directResponseStatus) return { kind: 'direct', status: rule.directResponseStatus };
  // No backends: the rule sends traffic to the service the client addressed (GAMMA).
  const refs: readonly BackendRef[] = rule.backends !== undefined && rule.backends.length > 0 ? rule.backends : [{ hostname: service.hostname }];
  const backends = refs.map((b) => ({ hostname: b.hostname, target: b.port ? Object.freeze({ hostname: b.hostname, port: b.port }) : undefined }));
  // Gateway API: weight defaults to 1; 0 means never picked.
  const weights = Object.freeze(refs.map((b) => b.weight ?? 1));
  let sole = -1;
  for (let i = 0; i < weights.length; i++) if (weights[i]! > 0) sole = sole === -1 ? i : -2;
  return {
    kind: 'forward',
    backends,
    weights,
    sole,
    rewrite,
    requestHeaders: requestHeaders.length > 0 ? Object.freeze(requestHeaders) : none,
    responseHeaders: responseHeaders.length > 0 ? Object.freeze(responseHeaders) : none,
    mirrors: mirrors.length > 0 ? Object.freeze(mirrors) : none,
    timeouts: rule.timeouts,
    retry: rule.retry,
  };
}

// ---------------------------------------------------------------- matching

interface RequestView {
  /** The path without the query string: Gateway API matches paths without it. */
  path: string;
  /** What follows the '?', '' when none. */
  query: string;
  /** Parsed on the first query match only. */
  params: URLSearchParams | undefined;
  req: RequestFacts;
}

/** -1 when no match of the rule matches; else how many leading characters of the path the match consumed. */
function matchRule(rule: CompiledRule, view: RequestView): number {
  // A rule without matches matches everything: Gateway API's default match is PathPrefix "/".
  if (rule.matches.length === 0) return 0;
  for (const m of rule.matches) {
    const consumed = matchOne(m, view);
    if (consumed >= 0) return consumed;
  }
  return -1;
}

function matchOne(m: CompiledMatch, view: RequestView): number {
  const req = view.req;
  // Every field that is set must match.
  if (m.method !== '' && m.method !== req.method) return -1;
  if (m.grpcService !== '' && m.grpcService !== req.grpc?.service) return -1;
  if (m.grpcMethod !== '' && m.grpcMethod !== req.grpc?.method) return -1;
  for (const h of m.headers) if (!valueMatches(h, headerValue(req.headers, h.name))) return -1;
  if (m.queryParams.length > 0) {
    view.params ??= new URLSearchParams(view.query);
    // Gateway API leaves a repeated parameter undefined and recommends its first value, which get() returns.
    for (const p of m.queryParams) if (!valueMatches(p, view.params.get(p.name) ?? undefined)) return -1;
  }
  return m.path === undefined ? 0 : matchPath(m.path, view.path);
}

function matchPath(p: PathMatcher, path: string): number {
  switch (p.kind) {
    case 'prefix':
      // Element-wise: "/foo" matches "/foo", "/foo/" and "/foo/bar", not "/foobar".
      if (!path.startsWith(p.prefix)) return -1;
      return path.length === p.prefix.length || path.charCodeAt(p.prefix.length) === 0x2f /* / */ ? p.prefix.length : -1;
    case 'exact':
      return path === p.value ? path.length : -1;
    case 'regex':
      // A full-match regex consumes the whole path.
      return p.re?.test(path) ? path.length : -1;
  }
}

function valueMatches(m: ValueMatcher, value: string | undefined): boolean {
  // An absent header or parameter matches neither an exact value nor a pattern.
  if (value === undefined) return false;
  switch (m.kind) {
    case 'exact':
      return value === m.value;
    case 'regex':
      return m.re?.test(value) ?? false;
  }
}

/**
 * A repeated header is matched as its field lines joined with ',' (RFC 9110 §5.3), the value
 * Envoy matches too. Node's http/1 server has already joined most repeats with ", ".
 */
function headerValue(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return v === undefined || typeof v === 'string' ? v : v.join(',');
}

// ---------------------------------------------------------------- the winning rule

function decide(
  compiled: CompiledRoutes,
  route: CompiledRoute,
  rule: CompiledRule,
  view: RequestView,
  prefixLength: number,
  pick: WeightedPicker,
): RouteDecision {
  const action = rule.action;
  const routeKind: RouteKind = route.grpc ? 'GRPCRoute' : 'HTTPRoute';
  switch (action.kind) {
    case 'redirect':
      return {
        kind: 'redirect',
        route: route.name,
        routeKind,
        rule: rule.index,
        status: action.status,
        location: redirectLocation(action.redirect, compiled, view, prefixLength),
      };
    case 'direct':
      return { kind: 'direct', route: route.name, routeKind, rule: rule.index, status: action.status };
    case 'forward': {
      let index = action.sole;
      // Every weight 0: Gateway API gives the rule's traffic a 500 rather than picking a backend
      // the user switched off.
      if (index === -1) return { kind: 'direct', route: route.name, routeKind, rule: rule.index, status: 500 };
      if (index === -2) index = checkedIndex(pick(action.weights), action.weights);
      const b = action.backends[index]!;
      const decision: ForwardDecision = {
        kind: 'forward',
        route: route.name,
        routeKind,
        rule: rule.index,
        // A backend without a port is reached on the port the client addressed.
        backend: b.target ?? { hostname: b.hostname, port: view.req.port },
        path: view.req.path,
        requestHeaders: action.requestHeaders,
        responseHeaders: action.responseHeaders,
        mirrors: action.mirrors,
      };
      const rewrite = action.rewrite;
      if (rewrite !== undefined) {
        if (rewrite.path !== undefined) decision.path = modifyPath(rewrite.path, view.path, prefixLength) + queryOf(view);
        if (rewrite.hostname) decision.authority = rewrite.hostname;
      }
      if (action.timeouts !== undefined) decision.timeouts = action.timeouts;
      if (action.retry !== undefined) decision.retry = action.retry;
      return decision;
    }
  }
}

function checkedIndex(index: number, weights: readonly number[]): number {
  if (!Number.isInteger(index) || index < 0 || index >= weights.length || !(weights[index]! > 0)) {
    throw new RangeError(`backend picker returned ${index} for weights [${weights.join(', ')}]`);
  }
  return index;
}

/**
 * Gateway API HTTPRequestRedirectFilter. The request's scheme is http: mesh traffic reaches the
 * waypoint in plaintext inside HBONE (TLS from the client would be opaque TCP, never routed here).
 * "The Gateway listener port" is the service port the client addressed.
 */
function redirectLocation(r: RequestRedirect, compiled: CompiledRoutes, view: RequestView, prefixLength: number): string {
  const scheme = r.scheme || 'http';
  const host = r.hostname || hostOf(view.req.authority) || compiled.hostname;
  let port: number;
  if (r.port) port = r.port;
  // A scheme set without a port means that scheme's well-known port, even on another port now.
  else if (r.scheme) port = wellKnownPort(scheme) ?? view.req.port;
  else port = view.req.port;
  // Gateway API: no port in Location for http on 80 and https on 443.
  const showPort = port !== wellKnownPort(scheme);
  const path = r.path === undefined ? view.path : modifyPath(r.path, view.path, prefixLength);
  return `${scheme}://${bracketed(host)}${showPort ? `:${port}` : ''}${path}${queryOf(view)}`;
}

function wellKnownPort(scheme: string): number | undefined {
  return scheme === 'http' ? 80 : scheme === 'https' ? 443 : undefined;
}

/** ReplaceFullPath, or ReplacePrefixMatch of the `prefixLength` characters the match consumed. */
function modifyPath(mod: PathModifier, path: string, prefixLength: number): string {
  const value = mod.value ?? '';
  switch (mod.type ?? 'REPLACE_FULL_PATH') {
    case 'REPLACE_FULL_PATH':
      return value === '' ? '/' : value;
    case 'REPLACE_PREFIX_MATCH': {
      // Gateway API's trailing-slash rules: the replacement's trailing slash is dropped and the
      // rest keeps its own leading one, so prefix /foo → /xyz turns /foo/bar into /xyz/bar,
      // /foo into /xyz, and → / turns /foo/bar into /bar and /foo into /.
      const replacement = value.endsWith('/') ? value.slice(0, -1) : value;
      const out = replacement + path.slice(prefixLength);
      return out === '' ? '/' : out.charCodeAt(0) === 0x2f /* / */ ? out : `/${out}`;
    }
  }
}

function queryOf(view: RequestView): string {
  return view.query === '' ? '' : `?${view.query}`;
}

/** The host of a Host/:authority value, without its port: "h:8080" → "h", "[::1]:80" → "[::1]". */
function hostOf(authority: string): string {
  if (authority.charCodeAt(0) === 0x5b /* [ */) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

function bracketed(host: string): string {
  return host.includes(':') && host.charCodeAt(0) !== 0x5b ? `[${host}]` : host;
}
