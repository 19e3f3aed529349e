// HTTPRoute / GRPCRoute → per-service route tables for waypoints, and each route's
// status.parents (Accepted, ResolvedRefs, PartiallyInvalid) in Gateway API shape.
//
// An invalid rule is dropped and the route's other rules stay in force (Gateway API's "Drop
// Rule" approach: Accepted True, PartiallyInvalid True "Dropped Rule ..."); a route whose every
// rule is invalid is not accepted. A backend or mirror backend that does not resolve is left
// out of its rule with ResolvedRefs False, as the spec asks, instead of invalidating the rule.
//
// Output is flattened to one rule with at most one match per Route entry and sorted by Gateway
// API precedence across all routes of a service (exact path, longest prefix, method, most
// headers, most query params, oldest route, name, rule order), so the waypoint only has to take
// the first entry that matches.
import type {
  BackendRef,
  Filter,
  HeaderModifier,
  PathModifier,
  RequestMirror,
  Retry,
  Route,
  RouteMatch,
  RouteRule,
  Service,
  Timeouts,
  ValueMatch,
} from '@ambient/api';
import { MeshError } from '@ambient/api';
import { condition, type Condition } from './conditions.ts';
import { parseDurationMs } from './duration.ts';
import type { KubeObject, Manifest, MeshOptions } from './inputs.ts';
import { createdAt, generationOf, keyOf, nameOf, namespaceOf } from './kube-object.ts';
import { gatewayApiGroup, gatewayControllerName } from '@ambient/api';
import type { ObjectStatus, RouteParentStatus } from './object-status.ts';
import type { Waypoint, WaypointBinding } from './waypoints.ts';

export interface RouteContext {
  opts: MeshOptions;
  /** "<namespace>/<hostname>" → service. */
  services: Map<string, Service>;
  /** "<namespace>/<hostname>" → its waypoint binding. */
  bindings: Map<string, WaypointBinding>;
  /** Waypoint Gateways by "<namespace>/<name>" (their listeners are what a parentRef's sectionName and port select). */
  waypoints: Map<string, Waypoint>;
}

export interface CompiledRoutes {
  /** "<namespace>/<hostname>" → routes in precedence order. */
  byService: Map<string, Route[]>;
  /** Waypoint "<namespace>/<name>" → number of routes attached to it. */
  attachedRoutes: Map<string, number>;
  statuses: ObjectStatus[];
}

/** A rule the model leaves out; reason and message become the route's condition. */
class RouteError extends MeshError<'ERR_INVALID_POLICY'> {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('ERR_INVALID_POLICY', message);
    this.reason = reason;
  }
}

/** Why a reference did not resolve (a ResolvedRefs reason and message). */
interface Unresolved {
  reason: string;
  message: string;
}

type Kind = 'HTTPRoute' | 'GRPCRoute';

/** Gateway API's RequestRedirect status codes (301 and 302 are core, the rest extended). */
const redirectCodes: readonly number[] = [301, 302, 303, 307, 308];

interface Entry {
  route: Route;
  sortKey: number[];
  created: number;
  key: string;
  order: number;
}

export function compileRoutes(httpRoutes: readonly KubeObject[], grpcRoutes: readonly KubeObject[], ctx: RouteContext): CompiledRoutes {
  const entries = new Map<string, Entry[]>();
  const attachedRoutes = new Map<string, number>();
  const statuses: ObjectStatus[] = [];
  for (const [kind, list] of [
    ['HTTPRoute', httpRoutes],
    ['GRPCRoute', grpcRoutes],
  ] as const) {
    for (const obj of list) {
      const { status, targets, rules } = compileRoute(obj, kind, ctx);
      statuses.push(status);
      for (const t of targets) {
        if (t.waypoint) attachedRoutes.set(t.waypoint, (attachedRoutes.get(t.waypoint) ?? 0) + 1);
        for (const serviceKey of t.services) {
          const list = entries.get(serviceKey) ?? [];
          for (const [order, r] of rules.entries()) {
            list.push({
              route: { name: keyOf(obj), kind, port: t.port, rules: [r.rule] },
              sortKey: r.sortKey,
              created: createdAt(obj),
              key: keyOf(obj),
              order,
            });
          }
          entries.set(serviceKey, list);
        }
      }
    }
  }
  const byService = new Map<string, Route[]>();
  for (const [k, list] of entries) {
    list.sort((a, b) => compareKeys(b.sortKey, a.sortKey) || a.created - b.created || a.key.localeCompare(b.key) || a.order - b.order);
    byService.set(
      k,
      list.map((e) => e.route),
    );
  }
  return { byService, attachedRoutes, statuses };
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

interface Target {
  services: string[];
  port: number;
  waypoint?: string;
}

interface CompiledRule {
  rule: RouteRule;
  sortKey: number[];
}

function compileRoute(obj: KubeObject, kind: Kind, ctx: RouteContext): { status: ObjectStatus; targets: Target[]; rules: CompiledRule[] } {
  const ns = namespaceOf(obj);
  const gen = generationOf(obj);
  const parentRefs: Manifest[] = Array.isArray(obj.spec?.parentRefs) ? obj.spec.parentRefs : [];
  const { rules, unresolved, dropped, ruleCount } = compileRules(obj, kind, ctx);
  // Every rule invalid: nothing of the route can be applied, so it is not accepted at all.
  const routeError: Unresolved | undefined =
    ruleCount > 0 && dropped.length === ruleCount ? { reason: dropped[0]!.error.reason, message: dropped.map((d) => d.error.message).join('; ') } : undefined;
  const partial: Condition | undefined =
    dropped.length > 0 && !routeError
      ? condition(
          'PartiallyInvalid',
          true,
          dropped[0]!.error.reason,
          `Dropped Rule${dropped.length > 1 ? 's' : ''} ${dropped.map((d) => d.index).join(', ')}: ${dropped.map((d) => d.error.message).join('; ')}`,
          gen,
        )
      : undefined;
  const targets: Target[] = [];
  const parents: RouteParentStatus[] = parentRefs.map((ref) => {
    const parentRef = { ...ref };
    const conditions: Condition[] = [];
    const parent = routeError ? { error: routeError } : resolveParent(ref, obj, ctx);
    if ('error' in parent) {
      conditions.push(condition('Accepted', false, parent.error.reason, parent.error.message, gen));
    } else {
      targets.push(parent.target);
      conditions.push(condition('Accepted', true, 'Accepted', 'route accepted', gen));
    }
    conditions.push(
      unresolved
        ? condition('ResolvedRefs', false, unresolved.reason, unresolved.message, gen)
        : condition('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved', gen),
    );
    // Gateway API: PartiallyInvalid only on a route that is accepted.
    if (partial && !('error' in parent)) conditions.push(partial);
    return { parentRef, controllerName: gatewayControllerName, conditions };
  });
  const status: ObjectStatus = { apiVersion: obj.apiVersion ?? `${gatewayApiGroup}/v1`, kind, namespace: ns, name: nameOf(obj), conditions: [], parents };
  return { status, targets, rules };
}

function resolveParent(ref: Manifest, route: KubeObject, ctx: RouteContext): { target: Target } | { error: Unresolved } {
  const kind = ref?.kind ?? 'Gateway';
  const group = ref?.group ?? gatewayApiGroup;
  const ns = ref?.namespace ?? namespaceOf(route);
  const name = ref?.name;
  const port = Number.isInteger(ref?.port) ? ref.port : 0;
  if (typeof name !== 'string' || name === '') return { error: { reason: 'NoMatchingParent', message: 'parentRef has no name' } };
  if (kind === 'Service' && (group === '' || group === 'core')) {
    const key = `${ns}/${name}.${ns}.svc.${ctx.opts.clusterDomain}`;
    const svc = ctx.services.get(key);
    if (!svc) return { error: { reason: 'NoMatchingParent', message: `service ${ns}/${name} not found` } };
    if (port !== 0 && !(svc.ports ?? []).some((p) => p.servicePort === port))
      return { error: { reason: 'NoMatchingParent', message: `service ${ns}/${name} has no port ${port}` } };
    const binding = ctx.bindings.get(key);
    if (!binding?.waypoint)
      return {
        error: { reason: 'NoMatchingParent', message: `service ${ns}/${name} is not bound to a waypoint${binding?.error ? `: ${binding.error.message}` : ''}` },
      };
    return { target: { services: [key], port } };
  }
  if (kind === 'Gateway' && group === gatewayApiGroup) {
    const wpKey = `${ns}/${name}`;
    const wp = ctx.waypoints.get(wpKey);
    if (!wp) return { error: { reason: 'NoMatchingParent', message: `gateway ${wpKey} not found or not an istio-waypoint gateway` } };
    // On a Gateway parent, sectionName and port select listeners (not service ports): the route
    // then applies to every port of the services it reaches.
    const listeners: Manifest[] = Array.isArray(wp.gateway.spec?.listeners) ? wp.gateway.spec.listeners : [];
    const section = typeof ref?.sectionName === 'string' && ref.sectionName !== '' ? ref.sectionName : undefined;
    if (!listeners.some((l) => (section === undefined || l?.name === section) && (port === 0 || l?.port === port))) {
      const wanted = [section !== undefined ? `named ${section}` : '', port !== 0 ? `on port ${port}` : ''].filter(Boolean).join(' ');
      return { error: { reason: 'NoMatchingParent', message: `gateway ${wpKey} has no listener ${wanted}` } };
    }
    const hostnames: unknown[] = Array.isArray(route.spec?.hostnames) ? route.spec.hostnames : [];
    const services = [...ctx.bindings]
      .filter(([k, b]) => b.waypoint && `${b.waypoint.namespace}/${b.waypoint.name}` === wpKey && hostMatches(hostnames, ctx.services.get(k)!))
      .map(([k]) => k);
    return { target: { services, port: 0, waypoint: wpKey } };
  }
  return {
    error: { reason: 'NotAllowedByListeners', message: `unsupported parentRef kind ${group}/${kind}: expected a Service or an istio-waypoint Gateway` },
  };
}

/** Route hostnames select the bound services they name (any of name, name.ns, name.ns.svc, FQDN, "*.suffix"). */
function hostMatches(hostnames: unknown[], svc: Service): boolean {
  if (hostnames.length === 0) return true;
  const names = [svc.name, `${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`, svc.hostname];
  return hostnames.some((h) => typeof h === 'string' && (h.startsWith('*.') ? svc.hostname.endsWith(h.slice(1)) : names.includes(h)));
}

function compileRules(
  obj: KubeObject,
  kind: Kind,
  ctx: RouteContext,
): { rules: CompiledRule[]; unresolved?: Unresolved; dropped: { index: number; error: RouteError }[]; ruleCount: number } {
  const specRules: Manifest[] = Array.isArray(obj.spec?.rules) ? obj.spec.rules : [];
  const rules: CompiledRule[] = [];
  const dropped: { index: number; error: RouteError }[] = [];
  let unresolved: Unresolved | undefined;
  for (const [i, r] of specRules.entries()) {
    try {
      const compiled = compileRule(r ?? {}, i, obj, kind, ctx);
      rules.push(...compiled.rules);
      // A dropped rule's references do not count: it is not applied.
      unresolved ??= compiled.unresolved;
    } catch (err) {
      if (!(err instanceof RouteError)) throw err;
      dropped.push({ index: i, error: err });
    }
  }
  return { rules, ...(unresolved ? { unresolved } : {}), dropped, ruleCount: specRules.length };
}

/** One spec rule → one compiled rule per match; throws RouteError when the rule is invalid. */
function compileRule(r: Manifest, i: number, obj: KubeObject, kind: Kind, ctx: RouteContext): { rules: CompiledRule[]; unresolved?: Unresolved } {
  const path = `spec.rules[${i}]`;
  const base: RouteRule = {};
  let unresolved: Unresolved | undefined;
  const specFilters: Manifest[] = Array.isArray(r.filters) ? r.filters : [];
  checkFilterCombination(specFilters, r, `${path}.filters`);
  const filters: Filter[] = [];
  for (const [j, f] of specFilters.entries()) {
    const compiled = compileFilter(f, kind, `${path}.filters[${j}]`, obj, ctx);
    if ('unresolved' in compiled) unresolved ??= compiled.unresolved;
    else if (compiled.filter) filters.push(compiled.filter);
  }
  if (filters.length > 0) base.filters = filters;
  if (kind === 'HTTPRoute') {
    const timeouts = compileTimeouts(r.timeouts, `${path}.timeouts`);
    if (timeouts) base.timeouts = timeouts;
    const retry = compileRetry(r.retry, `${path}.retry`);
    if (retry) base.retry = retry;
  }
  const refs: Manifest[] = Array.isArray(r.backendRefs) ? r.backendRefs : [];
  const backends: BackendRef[] = [];
  for (const [j, ref] of refs.entries()) {
    const field = `${path}.backendRefs[${j}]`;
    // Per-backend filters cannot be carried to the waypoint: refusing the rule says so, where
    // ignoring them would silently skip a header change or a mirror the user asked for.
    if (Array.isArray(ref?.filters) && ref.filters.length > 0)
      throw new RouteError('UnsupportedValue', `${field}.filters: filters on a backendRef are not supported (put them on the rule)`);
    const weight = ref?.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 0)
      throw new RouteError('UnsupportedValue', `${field}.weight ${JSON.stringify(weight)}: expected a non-negative integer`);
    const b = resolveBackend(ref, obj, ctx, field);
    if ('error' in b) unresolved ??= b.error;
    else backends.push({ ...b.backend, weight });
  }
  if (backends.length > 0) base.backends = backends;
  // Gateway API: a rule whose backends all failed to resolve answers 500 instead of guessing.
  else if (refs.length > 0) base.directResponseStatus = 500;
  const matches: Manifest[] = Array.isArray(r.matches) && r.matches.length > 0 ? r.matches : [{}];
  const rules = matches.map((m, j): CompiledRule => {
    const match = kind === 'HTTPRoute' ? compileHttpMatch(m ?? {}, `${path}.matches[${j}]`) : compileGrpcMatch(m ?? {}, `${path}.matches[${j}]`);
    return { rule: { ...base, matches: Object.keys(match).length > 0 ? [match] : [] }, sortKey: precedence(match) };
  });
  return unresolved ? { rules, unresolved } : { rules };
}

/** Larger sorts first: exact path, regex, longest prefix, then method, headers, query params. */
function precedence(m: RouteMatch): number[] {
  const type = m.path?.type ?? 'PATH_PREFIX';
  const rank = type === 'EXACT' ? 2 : type === 'REGULAR_EXPRESSION' ? 1 : 0;
  return [rank, (m.path?.value ?? '/').length, m.method || m.grpcMethod ? 1 : 0, m.headers?.length ?? 0, m.queryParams?.length ?? 0];
}

/** A Service backendRef → its hostname and port (weight is the caller's: a mirror has none). */
function resolveBackend(ref: Manifest, route: KubeObject, ctx: RouteContext, field: string): { backend: BackendRef } | { error: Unresolved } {
  const kind = ref?.kind ?? 'Service';
  const group = ref?.group ?? '';
  const ns = ref?.namespace ?? namespaceOf(route);
  if (kind !== 'Service' || (group !== '' && group !== 'core'))
    return { error: { reason: 'InvalidKind', message: `${field}: unsupported backend kind ${group}/${kind}` } };
  if (ns !== namespaceOf(route))
    return { error: { reason: 'RefNotPermitted', message: `${field}: backend ${ns}/${ref?.name} is in another namespace (ReferenceGrant is not supported)` } };
  const key = `${ns}/${ref?.name}.${ns}.svc.${ctx.opts.clusterDomain}`;
  const svc = ctx.services.get(key);
  if (!svc) return { error: { reason: 'BackendNotFound', message: `${field}: service ${ns}/${ref?.name} not found` } };
  if (!Number.isInteger(ref?.port)) return { error: { reason: 'BackendNotFound', message: `${field}: backend ${ns}/${ref?.name} needs a port` } };
  if (!(svc.ports ?? []).some((p) => p.servicePort === ref.port))
    return { error: { reason: 'BackendNotFound', message: `${field}: service ${ns}/${ref.name} has no port ${ref.port}` } };
  return { backend: { hostname: svc.hostname, port: ref.port } };
}

function compileHttpMatch(m: Manifest, field: string): RouteMatch {
  const out: RouteMatch = {};
  if (m.path !== undefined && m.path !== null) {
    const types: Record<string, 'EXACT' | 'PATH_PREFIX' | 'REGULAR_EXPRESSION'> = {
      Exact: 'EXACT',
      PathPrefix: 'PATH_PREFIX',
      RegularExpression: 'REGULAR_EXPRESSION',
    };
    const type = types[m.path.type ?? 'PathPrefix'];
    if (!type) throw new RouteError('UnsupportedValue', `${field}.path.type "${m.path.type}" is not supported`);
    const value = m.path.value ?? '/';
    if (typeof value !== 'string' || (type !== 'REGULAR_EXPRESSION' && !value.startsWith('/')))
      throw new RouteError('UnsupportedValue', `${field}.path.value ${JSON.stringify(value)} must start with "/"`);
    if (type === 'REGULAR_EXPRESSION') checkRegex(value, `${field}.path.value`);
    out.path = { type, value };
  }
  const headers = valueMatches(m.headers, `${field}.headers`, true);
  if (headers.length > 0) out.headers = headers;
  const query = valueMatches(m.queryParams, `${field}.queryParams`, false);
  if (query.length > 0) out.queryParams = query;
  if (m.method !== undefined) {
    if (typeof m.method !== 'string' || !/^[A-Z]+$/.test(m.method))
      throw new RouteError('UnsupportedValue', `${field}.method ${JSON.stringify(m.method)} is not an HTTP method`);
    out.method = m.method;
  }
  return out;
}

function compileGrpcMatch(m: Manifest, field: string): RouteMatch {
  const out: RouteMatch = {};
  if (m.method !== undefined && m.method !== null) {
    if ((m.method.type ?? 'Exact') !== 'Exact')
      throw new RouteError('UnsupportedValue', `${field}.method.type "${m.method.type}" is not supported (only Exact)`);
    if (m.method.service) out.grpcService = String(m.method.service);
    if (m.method.method) out.grpcMethod = String(m.method.method);
  }
  const headers = valueMatches(m.headers, `${field}.headers`, true);
  if (headers.length > 0) out.headers = headers;
  return out;
}

function valueMatches(list: unknown, field: string, lowerName: boolean): ValueMatch[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new RouteError('UnsupportedValue', `${field} must be a list`);
  return list.map((h: Manifest, i: number) => {
    const type = h?.type ?? 'Exact';
    if (type !== 'Exact' && type !== 'RegularExpression') throw new RouteError('UnsupportedValue', `${field}[${i}].type "${type}" is not supported`);
    if (typeof h?.name !== 'string' || h.name === '' || typeof h?.value !== 'string')
      throw new RouteError('UnsupportedValue', `${field}[${i}] needs a name and a value`);
    if (type === 'RegularExpression') checkRegex(h.value, `${field}[${i}].value`);
    return { name: lowerName ? h.name.toLowerCase() : h.name, type: type === 'Exact' ? 'VALUE_EXACT' : 'VALUE_REGULAR_EXPRESSION', value: h.value };
  });
}

function checkRegex(v: string, field: string): void {
  try {
    new RegExp(v);
  } catch {
    throw new RouteError('UnsupportedValue', `${field} ${JSON.stringify(v)} is not a valid regular expression`);
  }
}

/**
 * What the upstream CRDs refuse with CEL, checked here because this mesh's CRDs leave rules
 * unmodelled (one bad rule is a condition, not a refused apply): a filter type at most once
 * (RequestMirror excepted), not both RequestRedirect and URLRewrite, no RequestRedirect beside
 * backendRefs.
 */
function checkFilterCombination(filters: Manifest[], rule: Manifest, field: string): void {
  const types = filters.map((f) => f?.type);
  const repeated = types.find((t, i) => typeof t === 'string' && t !== 'RequestMirror' && types.indexOf(t) !== i);
  if (repeated !== undefined) throw new RouteError('IncompatibleFilters', `${field}: ${repeated} may appear at most once in a rule`);
  if (types.includes('RequestRedirect') && types.includes('URLRewrite'))
    throw new RouteError('IncompatibleFilters', `${field}: RequestRedirect and URLRewrite cannot be used in the same rule`);
  if (types.includes('RequestRedirect') && Array.isArray(rule.backendRefs) && rule.backendRefs.length > 0)
    throw new RouteError('IncompatibleFilters', `${field}: a rule with RequestRedirect cannot have backendRefs`);
}

/**
 * One filter. `filter` is absent when it has no effect (a mirror of 0 %); `unresolved` when its
 * backend does not resolve: the filter is left out and the rule still applies (Gateway API).
 */
function compileFilter(f: Manifest, kind: Kind, field: string, route: KubeObject, ctx: RouteContext): { filter?: Filter } | { unresolved: Unresolved } {
  switch (f?.type) {
    case 'RequestHeaderModifier':
      return { filter: { requestHeaderModifier: headerModifier(f.requestHeaderModifier, `${field}.requestHeaderModifier`) } };
    case 'ResponseHeaderModifier':
      return { filter: { responseHeaderModifier: headerModifier(f.responseHeaderModifier, `${field}.responseHeaderModifier`) } };
    case 'RequestMirror':
      return requestMirror(f.requestMirror, `${field}.requestMirror`, route, ctx);
    case 'RequestRedirect':
      if (kind === 'HTTPRoute') {
        const r = f.requestRedirect ?? {};
        const code = r.statusCode ?? 302;
        if (!redirectCodes.includes(code))
          throw new RouteError('UnsupportedValue', `${field}.requestRedirect.statusCode ${JSON.stringify(code)}: expected one of ${redirectCodes.join(', ')}`);
        const out: Filter = { requestRedirect: { statusCode: code } };
        if (r.scheme) out.requestRedirect.scheme = String(r.scheme);
        if (r.hostname) out.requestRedirect.hostname = String(r.hostname);
        if (Number.isInteger(r.port)) out.requestRedirect.port = r.port;
        if (r.path) out.requestRedirect.path = pathModifier(r.path, `${field}.requestRedirect.path`);
        return { filter: out };
      }
      break;
    case 'URLRewrite':
      if (kind === 'HTTPRoute') {
        const r = f.urlRewrite ?? {};
        const out: Filter = { urlRewrite: {} };
        if (r.hostname) out.urlRewrite.hostname = String(r.hostname);
        if (r.path) out.urlRewrite.path = pathModifier(r.path, `${field}.urlRewrite.path`);
        return { filter: out };
      }
      break;
  }
  throw new RouteError('UnsupportedValue', `${field}.type "${f?.type}" is not supported in ${kind}`);
}

/**
 * Gateway API's HTTPRequestMirrorFilter: `backendRef` (no weight), and `percent` (0-100) or
 * `fraction` {numerator, denominator = 100}. The wire carries whole percents, 0 meaning every
 * request, so a fraction is rounded to the nearest percent but never down to 0 (which would
 * turn a trickle into everything), and a mirror of nothing is left out.
 */
function requestMirror(m: Manifest, field: string, route: KubeObject, ctx: RouteContext): { filter?: Filter } | { unresolved: Unresolved } {
  if (m === null || typeof m !== 'object' || m.backendRef === null || typeof m.backendRef !== 'object')
    throw new RouteError('UnsupportedValue', `${field}.backendRef is required`);
  if (m.percent !== undefined && m.fraction !== undefined) throw new RouteError('UnsupportedValue', `${field}: set percent or fraction, not both`);
  let percent = 100;
  if (m.percent !== undefined) {
    if (!Number.isInteger(m.percent) || m.percent < 0 || m.percent > 100)
      throw new RouteError('UnsupportedValue', `${field}.percent ${JSON.stringify(m.percent)}: expected an integer from 0 to 100`);
    percent = m.percent;
  } else if (m.fraction !== undefined) {
    const numerator = m.fraction?.numerator;
    const denominator = m.fraction?.denominator ?? 100;
    if (!Number.isInteger(numerator) || !Number.isInteger(denominator) || numerator < 0 || denominator < 1 || numerator > denominator)
      throw new RouteError(
        'UnsupportedValue',
        `${field}.fraction ${JSON.stringify(m.fraction)}: expected integers with 0 <= numerator <= denominator and denominator >= 1`,
      );
    percent = numerator === 0 ? 0 : Math.max(1, Math.round((numerator * 100) / denominator));
  }
  const b = resolveBackend(m.backendRef, route, ctx, `${field}.backendRef`);
  if ('error' in b) return { unresolved: b.error };
  if (percent === 0) return {};
  const mirror: RequestMirror = { backend: b.backend };
  if (percent < 100) mirror.percent = percent;
  return { filter: { requestMirror: mirror } };
}

function headerModifier(m: Manifest, field: string): HeaderModifier {
  const pairs = (l: unknown, f: string) =>
    (Array.isArray(l) ? l : []).map((h: Manifest, i: number) => {
      if (typeof h?.name !== 'string' || h.name === '') throw new RouteError('UnsupportedValue', `${f}[${i}] needs a name`);
      return { name: h.name.toLowerCase(), value: String(h.value ?? '') };
    });
  const out: HeaderModifier = {};
  const set = pairs(m?.set, `${field}.set`);
  const add = pairs(m?.add, `${field}.add`);
  const remove = (Array.isArray(m?.remove) ? m.remove : []).map((h: unknown) => String(h).toLowerCase());
  if (set.length) out.set = set;
  if (add.length) out.add = add;
  if (remove.length) out.remove = remove;
  return out;
}

function pathModifier(p: Manifest, field: string): PathModifier {
  if (p?.type === 'ReplaceFullPath') return { type: 'REPLACE_FULL_PATH', value: String(p.replaceFullPath ?? '') };
  if (p?.type === 'ReplacePrefixMatch') return { type: 'REPLACE_PREFIX_MATCH', value: String(p.replacePrefixMatch ?? '') };
  throw new RouteError('UnsupportedValue', `${field}.type "${p?.type}" is not supported`);
}

function compileTimeouts(t: Manifest, field: string): Timeouts | undefined {
  if (!t) return undefined;
  const out: Timeouts = {};
  for (const [k, target] of [
    ['request', 'requestMs'],
    ['backendRequest', 'backendRequestMs'],
  ] as const) {
    if (t[k] === undefined) continue;
    const ms = parseDurationMs(t[k]);
    if (ms === undefined) throw new RouteError('UnsupportedValue', `${field}.${k} ${JSON.stringify(t[k])} is not a duration`);
    out[target] = ms;
  }
  return out;
}

function compileRetry(r: Manifest, field: string): Retry | undefined {
  if (!r) return undefined;
  const out: Retry = {};
  if (r.attempts !== undefined) {
    if (!Number.isInteger(r.attempts) || r.attempts < 0)
      throw new RouteError('UnsupportedValue', `${field}.attempts ${JSON.stringify(r.attempts)}: expected a non-negative integer`);
    out.attempts = r.attempts;
  }
  if (r.backoff !== undefined) {
    const ms = parseDurationMs(r.backoff);
    if (ms === undefined) throw new RouteError('UnsupportedValue', `${field}.backoff ${JSON.stringify(r.backoff)} is not a duration`);
    out.backoffMs = ms;
  }
  if (Array.isArray(r.codes)) {
    for (const c of r.codes)
      if (!Number.isInteger(c) || c < 400 || c > 599) throw new RouteError('UnsupportedValue', `${field}.codes: ${JSON.stringify(c)} is not a 4xx/5xx status`);
    out.codes = r.codes;
  }
  return out;
}
