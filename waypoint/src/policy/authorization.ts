// L7 authorization at the waypoint: Istio AuthorizationPolicy with targetRefs, as istiod-lite
// compiles it into WaypointConfig.authorizations. Istio's order: any matching DENY denies; then,
// if any ALLOW applies, one must match; otherwise the request is allowed. A policy applies when
// its targets name "gateway" (everything through this waypoint) or the addressed service.
//
// Structure (waypoint.proto): rules OR'd (an ALLOW without rules matches nothing), a rule ANDs its
// clauses (none = everything), a clause ORs its matches. A match ANDs its fields: the L4 ones as
// ztunnel evaluates them (l4Matches), then hosts, methods, paths, headers, request principals.
//
// What the waypoint cannot decide narrows an ALLOW and widens a DENY, Istio's own rule for an
// attribute a proxy cannot evaluate (checkError in istio's authz model): missing evidence never
// grants access. Two fields are undecidable here:
// - requestPrincipals / notRequestPrincipals: without RequestAuthentication there is no verified
//   JWT, so whether the caller is (or is not) a given principal is unknown. A match naming either
//   never matches in an ALLOW and is taken as matching in a DENY: `DENY notRequestPrincipals ["*"]`
//   ("require a JWT") denies everything, `ALLOW requestPrincipals [...]` allows nothing, and
//   `DENY requestPrincipals ["bad/*"]` denies whatever else it matches rather than letting an
//   unverified bad caller through.
// - a header sent more than once (an array in RequestFacts; Node joins most repeats into one
//   "a, b" string, matched whole as Envoy does): a DENY matches when any value matches (and its
//   negation holds unless every value matches); an ALLOW needs every value to match (and its
//   negation fails when any does), so a second copy of a header can never slip past a policy.
//
// Hosts are matched case-insensitively against Host/:authority as sent, port included, as Envoy
// does: "example.com" does not match "example.com:8080"; Istio's advice is to list
// ["example.com", "example.com:*"]. Methods are case-sensitive. Paths are matched without the
// query string, after the normalization Istio's default (BASE) applies before RBAC: dot segments
// resolved and percent-encoded unreserved characters decoded, so "/public/%2e%2e/admin" is
// "/admin" to a policy.
import type { HeaderStringMatch, L7Authorization, L7Match, StringMatch } from '@ambient/api';
import { field, l4Matches, principalOf, stringMatches } from '@ambient/api/proxy-runtime';
import type { L4Subject } from '@ambient/api/proxy-runtime';
import type { RequestFacts, SourceFacts } from '../http/request-facts.ts';

export type L7Decision =
  | { allowed: true }
  | {
      allowed: false;
      /** "<namespace>/<name>" of the DENY that matched, or "allow-nothing" when ALLOW policies apply and none matched. */
      policy: string;
      action: 'DENY' | 'ALLOW';
    };

/** The body of the 403 Envoy's RBAC filter sends on a denial. */
export const rbacDenied = 'RBAC: access denied';

export interface DenialResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: string;
}

// Envoy's RBAC filter sends a plain local reply (no headers of its own; Istio adds none). For a
// gRPC request Envoy's local reply is trailers-only: HTTP 200, grpc-status 7 (PERMISSION_DENIED,
// its mapping of 403) and the same text as grpc-message.
const httpDenial: DenialResponse = Object.freeze({ status: 403, headers: Object.freeze({ 'content-type': 'text/plain' }), body: rbacDenied });
const grpcDenial: DenialResponse = Object.freeze({
  status: 200,
  headers: Object.freeze({ 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': rbacDenied }),
  body: '',
});

/** What the waypoint answers a denied request with, as Envoy's RBAC filter does. */
export function denialResponse(grpc: boolean): DenialResponse {
  return grpc ? grpcDenial : httpDenial;
}

const allowed: L7Decision = Object.freeze({ allowed: true });

export function authorizeRequest(
  policies: readonly L7Authorization[],
  target: { serviceHostname: string | undefined },
  req: RequestFacts,
  src: SourceFacts,
): L7Decision {
  const compiled = compiledOf(policies);
  const set = (target.serviceHostname !== undefined ? compiled.byService.get(target.serviceHostname) : undefined) ?? compiled.gateway;
  if (set.denies.length === 0 && set.allows.length === 0) return allowed;
  const view = viewOf(req, src);
  for (const p of set.denies) if (policyMatches(p, view, true)) return { allowed: false, policy: p.key, action: 'DENY' };
  if (set.allows.length === 0) return allowed;
  for (const p of set.allows) if (policyMatches(p, view, false)) return allowed;
  return { allowed: false, policy: 'allow-nothing', action: 'ALLOW' };
}

/**
 * The path a policy sees: no query or fragment, percent-encoded unreserved characters decoded,
 * dot segments removed (RFC 3986 §6.2.2, what Envoy's normalize_path does under Istio's default).
 */
export function authorizationPath(target: string): string {
  let end = target.length;
  const q = target.indexOf('?');
  if (q >= 0) end = q;
  const h = target.indexOf('#');
  if (h >= 0 && h < end) end = h;
  let path = end === target.length ? target : target.slice(0, end);
  if (path.includes('%')) path = path.replace(escapeRe, decodeUnreserved);
  return path.startsWith('/') && dotSegmentRe.test(path) ? removeDotSegments(path) : path;
}

// ---------------------------------------------------------------- compiled form

interface CompiledMatch {
  /** The L4 fields, for l4Matches (an L7Match has no destination IPs). */
  l4: L7Match;
  hosts?: StringMatch[]; // lower-cased
  notHosts?: StringMatch[];
  methods?: StringMatch[];
  notMethods?: StringMatch[];
  paths?: StringMatch[];
  notPaths?: StringMatch[];
  headers?: HeaderStringMatch[]; // names lower-cased
  notHeaders?: HeaderStringMatch[];
  /** requestPrincipals or notRequestPrincipals is set: undecidable without a verified JWT. */
  requestPrincipals: boolean;
}

interface CompiledPolicy {
  key: string;
  /** rules (OR) → clauses (AND) → matches (OR). */
  rules: CompiledMatch[][][];
}

interface PolicySet {
  denies: CompiledPolicy[];
  allows: CompiledPolicy[];
}

interface Compiled {
  /** The policies targeting the whole waypoint: what applies when no bound service is addressed. */
  gateway: PolicySet;
  /** Per bound service hostname: its own policies plus the gateway's, in config order. */
  byService: Map<string, PolicySet>;
}

// A WaypointConfig is an immutable snapshot, swapped whole on change: compiling once per
// authorizations array keeps the per-request work to the matching itself.
const compiledByConfig = new WeakMap<readonly L7Authorization[], Compiled>();

function compiledOf(policies: readonly L7Authorization[]): Compiled {
  let c = compiledByConfig.get(policies);
  if (c === undefined) compiledByConfig.set(policies, (c = compile(policies)));
  return c;
}

function compile(policies: readonly L7Authorization[]): Compiled {
  const entries = policies.map((p) => ({ targets: new Set(p.targets ?? []), deny: p.action === 'DENY', compiled: compilePolicy(p) }));
  const setOf = (applies: (targets: Set<string>) => boolean): PolicySet => {
    const set: PolicySet = { denies: [], allows: [] };
    for (const e of entries) if (applies(e.targets)) (e.deny ? set.denies : set.allows).push(e.compiled);
    return set;
  };
  const byService = new Map<string, PolicySet>();
  for (const e of entries) {
    for (const t of e.targets) {
      if (t !== 'gateway' && !byService.has(t))
        byService.set(
          t,
          setOf((targets) => targets.has('gateway') || targets.has(t)),
        );
    }
  }
  return { gateway: setOf((targets) => targets.has('gateway')), byService };
}

function compilePolicy(p: L7Authorization): CompiledPolicy {
  return {
    key: `${p.namespace}/${p.name}`,
    rules: (p.rules ?? []).map((rule) => (rule.clauses ?? []).map((clause) => (clause.matches ?? []).map(compileMatch))),
  };
}

function compileMatch(m: L7Match): CompiledMatch {
  return {
    l4: m,
    hosts: m.hosts?.map(lowerCase),
    notHosts: m.notHosts?.map(lowerCase),
    methods: m.methods,
    notMethods: m.notMethods,
    paths: m.paths,
    notPaths: m.notPaths,
    headers: m.headers?.map((h) => ({ name: h.name.toLowerCase(), values: h.values ?? [] })),
    notHeaders: m.notHeaders?.map((h) => ({ name: h.name.toLowerCase(), values: h.values ?? [] })),
    requestPrincipals: (m.requestPrincipals?.length ?? 0) > 0 || (m.notRequestPrincipals?.length ?? 0) > 0,
  };
}

function lowerCase(m: StringMatch): StringMatch {
  if ('exact' in m) return { exact: m.exact.toLowerCase() };
  if ('prefix' in m) return { prefix: m.prefix.toLowerCase() };
  if ('suffix' in m) return { suffix: m.suffix.toLowerCase() };
  return m;
}

// ---------------------------------------------------------------- evaluation

/** The request as policies see it, derived once per request. */
interface RequestView {
  subject: L4Subject;
  req: RequestFacts;
  authority: string; // lower-cased
  path: string; // authorizationPath
}

function viewOf(req: RequestFacts, src: SourceFacts): RequestView {
  const subject: L4Subject = { sourceIp: src.ip, destinationPort: req.port };
  if (src.identity) subject.principal = principalOf(src.identity);
  if (src.namespace) subject.namespace = src.namespace;
  return { subject, req, authority: req.authority.toLowerCase(), path: authorizationPath(req.path) };
}

/** `deny`: the policy is a DENY, so what cannot be decided counts as a match. */
function policyMatches(p: CompiledPolicy, v: RequestView, deny: boolean): boolean {
  return p.rules.some((clauses) => clauses.every((matches) => matches.some((m) => matchMatches(m, v, deny))));
}

function matchMatches(m: CompiledMatch, v: RequestView, deny: boolean): boolean {
  if (m.requestPrincipals && !deny) return false;
  return (
    l4Matches(m.l4, v.subject) &&
    field(m.methods, m.notMethods, (s) => stringMatches(s, v.req.method)) &&
    field(m.hosts, m.notHosts, (s) => stringMatches(s, v.authority)) &&
    field(m.paths, m.notPaths, (s) => stringMatches(s, v.path)) &&
    // A repeated header: a DENY matches on any value, an ALLOW only on all (see the top).
    field(m.headers, undefined, (h) => headerMatches(h, v.req, deny)) &&
    field(undefined, m.notHeaders, (h) => headerMatches(h, v.req, !deny))
  );
}

/** `anyValue`: whether one of a repeated header's values suffices, or all must match. */
function headerMatches(h: HeaderStringMatch, req: RequestFacts, anyValue: boolean): boolean {
  const value = headerValue(req, h.name);
  const values = h.values!;
  const test = (text: string): boolean => values.some((s) => stringMatches(s, text));
  if (typeof value === 'string') return test(value);
  if (value === undefined || value.length === 0) return false;
  return anyValue ? value.some(test) : value.every(test);
}

function headerValue(req: RequestFacts, name: string): string | readonly string[] | undefined {
  const value = req.headers[name];
  if (value !== undefined) return value;
  // HTTP/1.1 carries Host, HTTP/2 :authority; policies may name either, or a pseudo-header.
  if (name === 'host' || name === ':authority') return req.authority;
  if (name === ':method') return req.method;
  if (name === ':path') return req.path;
  return undefined;
}

// ---------------------------------------------------------------- path normalization

const escapeRe = /%([0-9a-fA-F]{2})/g;
const dotSegmentRe = /\/\.\.?(?:\/|$)/;

function decodeUnreserved(encoded: string, hex: string): string {
  const c = Number.parseInt(hex, 16);
  const unreserved = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
  return unreserved ? String.fromCharCode(c) : encoded;
}

/** RFC 3986 §5.2.4 for an absolute path: "/a/./b/../c" → "/a/c"; ".." never climbs above "/". */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (i === last) out.push('');
    } else {
      out.push(s);
    }
  }
  return `/${out.join('/')}`;
}
