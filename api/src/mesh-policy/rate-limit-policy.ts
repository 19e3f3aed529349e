// RateLimitPolicy (mesh.ambient.dev/v1alpha1), Kuadrant's shape, checked field by field:
//
//   spec:
//     targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: reviews }]  # 1–16; Gateway, HTTPRoute, GRPCRoute, Service
//     limits:
//       per-caller:                                          # the limit's name
//         rates: [{ limit: 100, window: 1m }]                # 1–8, all must pass
//         counters: [{ expression: source.principal }]       # 0–8: one counter per distinct value(s)
//         when: [{ predicate: "request.method == 'POST'" }]  # 0–16, all must hold
//     store: { type: Redis, address: "redis:6379", failureMode: Open, timeout: 50ms }   # absent = Local
//
// Predicates and counter expressions are a small subset of CEL, parsed here, at config time, so
// that a typo is an `Accepted=False` condition naming the field rather than a request-time
// surprise. The subset, and nothing else:
//
//   attributes   request.method, request.path (without the query), request.host,
//                request.headers['name'] (lower-cased name; repeated values joined by ","),
//                source.address (IP), source.principal (SPIFFE ID), source.namespace
//   predicates   <attribute> == 'x', <attribute> != 'x' (either side may be the literal),
//                <attribute>.startsWith('x'), .endsWith('x'), .matches('regex')
//   literals     'single' or "double" quoted; escapes \\ \' \" \n \r \t
//
// One comparison per predicate: `when` is already a conjunction, and leaving out `&&`, `||`,
// `!` and parentheses keeps evaluation a table lookup plus one string test.
import { regexProblem } from './safe-regex.ts';
import { parseTargetRefs, type PolicyTarget } from './policy-target.ts';
import { duration, HOUR_MS, InvalidPolicyField, integer, list, object, oneOf, optionalObject, show } from './spec-fields.ts';

export type RateLimitAttributeName =
  | 'request.method'
  | 'request.path'
  | 'request.host'
  | 'request.headers'
  | 'source.address'
  | 'source.principal'
  | 'source.namespace';

export interface RateLimitAttribute {
  name: RateLimitAttributeName;
  /** For `request.headers`: the header name, lower-case. */
  header?: string;
}

export type RateLimitOperator = '==' | '!=' | 'startsWith' | 'endsWith' | 'matches';

export interface RateLimitPredicate {
  /** As written, for logs and the config dump. */
  text: string;
  attribute: RateLimitAttribute;
  op: RateLimitOperator;
  /** The literal; for `matches` the regular expression's source (checked to compile). */
  value: string;
}

export interface RateLimitCounter {
  text: string;
  attribute: RateLimitAttribute;
}

export interface RateLimitRate {
  /** Requests admitted per window (≥ 1). */
  limit: number;
  windowMs: number;
}

export interface RateLimit {
  /** The key under `spec.limits`. */
  name: string;
  rates: RateLimitRate[];
  counters: RateLimitCounter[];
  when: RateLimitPredicate[];
}

export type RateLimitFailureMode = 'Open' | 'Closed';

export type RateLimitStore =
  | { type: 'Local' }
  | {
      type: 'Redis';
      /** "host:port"; absent = the waypoint's `--redis-address`. */
      address?: string;
      failureMode: RateLimitFailureMode;
      timeoutMs: number;
    };

export interface RateLimitPolicySpec {
  targets: PolicyTarget[];
  /** Sorted by name, so that two parses of one object compare equal. */
  limits: RateLimit[];
  store: RateLimitStore;
}

export const MAX_RATE_LIMITS = 32;
export const MAX_RATES = 8;
export const MAX_COUNTERS = 8;
export const MAX_PREDICATES = 16;
/** A day: longer quotas belong in a billing system, not a proxy's counters. */
export const MAX_RATE_WINDOW_MS = 24 * HOUR_MS;
/**
 * The Redis store keeps a sliding log: one sorted-set entry per admitted request in the window.
 * This caps a counter's memory at about 6 MB (~60 bytes an entry).
 */
export const MAX_REDIS_RATE_LIMIT = 100_000;
export const DEFAULT_REDIS_TIMEOUT_MS = 50;
export const MAX_REDIS_TIMEOUT_MS = 1000;
const MAX_EXPRESSION_LENGTH = 1024;

/** A limit name is part of Redis keys, metric labels and headers: keep it plain. */
const limitName = /^[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?$/;

/** The spec, or an `InvalidPolicyField` naming the first bad field. */
export function parseRateLimitPolicy(spec: unknown): RateLimitPolicySpec {
  const s = object(spec, 'spec');
  const targets = parseTargetRefs(s, ['Gateway', 'HTTPRoute', 'GRPCRoute', 'Service']);
  targets.forEach((t, i) => {
    // Listener and rule sections are not in a request's scope here: attaching to the whole
    // object instead would silently widen the policy.
    if (t.sectionName !== undefined) {
      const at = s.targetRefs === undefined ? 'spec.targetRef' : `spec.targetRefs[${i}]`;
      throw new InvalidPolicyField(`${at}.sectionName`, `${show(t.sectionName)}: not supported; attach to the whole ${t.kind}`);
    }
  });
  const store = parseStore(s.store);
  const limitsObject = object(s.limits, 'spec.limits');
  const names = Object.keys(limitsObject).sort();
  if (names.length < 1 || names.length > MAX_RATE_LIMITS) {
    throw new InvalidPolicyField('spec.limits', `${names.length} limits: expected 1 to ${MAX_RATE_LIMITS}`);
  }
  const maxLimit = store.type === 'Redis' ? MAX_REDIS_RATE_LIMIT : Number.MAX_SAFE_INTEGER;
  const limits = names.map((name) => parseLimit(name, limitsObject[name], maxLimit));
  return { targets, limits, store };
}

function parseLimit(name: string, v: unknown, maxLimit: number): RateLimit {
  const at = `spec.limits.${name}`;
  if (!limitName.test(name)) {
    throw new InvalidPolicyField(
      `spec.limits[${show(name)}]`,
      'is not a limit name: 1 to 63 letters, digits, "-", "_" or "." starting and ending alphanumeric',
    );
  }
  const l = object(v, at);
  const rates = list(l.rates, `${at}.rates`, 1, MAX_RATES).map((r, i) => {
    const f = `${at}.rates[${i}]`;
    const rate = object(r, f);
    if (typeof rate.limit === 'number' && rate.limit > maxLimit) {
      throw new InvalidPolicyField(
        `${f}.limit`,
        `${show(rate.limit)}: the Redis store keeps one entry per admitted request (a sliding log), at most ${maxLimit} per window`,
      );
    }
    const limit = integer(rate.limit, `${f}.limit`, 1, maxLimit);
    const windowMs = duration(rate.window, `${f}.window`, 1, MAX_RATE_WINDOW_MS);
    if (limit === undefined) throw new InvalidPolicyField(`${f}.limit`, 'missing: expected an integer of at least 1');
    if (windowMs === undefined) throw new InvalidPolicyField(`${f}.window`, 'missing: expected a Gateway API duration (like "10s", "1m")');
    return { limit, windowMs };
  });
  const counters = list(l.counters, `${at}.counters`, 0, MAX_COUNTERS).map((c, i) => {
    const f = `${at}.counters[${i}].expression`;
    const text = expressionText(object(c, `${at}.counters[${i}]`).expression, f);
    return { text, attribute: parseCounterExpression(text, f) };
  });
  const when = list(l.when, `${at}.when`, 0, MAX_PREDICATES).map((p, i) => {
    const f = `${at}.when[${i}].predicate`;
    return parsePredicate(expressionText(object(p, `${at}.when[${i}]`).predicate, f), f);
  });
  return { name, rates, counters, when };
}

function parseStore(v: unknown): RateLimitStore {
  const st = optionalObject(v, 'spec.store');
  if (st === undefined) return { type: 'Local' };
  const type = oneOf(st.type, 'spec.store.type', ['Local', 'Redis'] as const) ?? 'Local';
  if (type === 'Local') {
    for (const field of ['address', 'failureMode', 'timeout']) {
      if (st[field] !== undefined && st[field] !== null) throw new InvalidPolicyField(`spec.store.${field}`, `${show(st[field])}: only for type Redis`);
    }
    return { type };
  }
  const store: RateLimitStore = {
    type,
    failureMode: oneOf(st.failureMode, 'spec.store.failureMode', ['Open', 'Closed'] as const) ?? 'Open',
    timeoutMs: duration(st.timeout, 'spec.store.timeout', 1, MAX_REDIS_TIMEOUT_MS) ?? DEFAULT_REDIS_TIMEOUT_MS,
  };
  if (st.address !== undefined && st.address !== null) {
    if (typeof st.address !== 'string' || parseStoreAddress(st.address) === undefined) {
      throw new InvalidPolicyField(
        'spec.store.address',
        `${show(st.address)}: expected "host:port" (a DNS name, an IPv4 address or a [bracketed] IPv6 address, port 1–65535)`,
      );
    }
    store.address = st.address;
  }
  return store;
}

const hostName = /^[A-Za-z0-9]([-A-Za-z0-9]{0,62})?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,62})?)*\.?$/;
const ipv6Chars = /^[0-9A-Fa-f:.]+$/;

/** "host:port" (also "[v6]:port") → its parts, or undefined. The waypoint's `--redis-address` uses it too. */
export function parseStoreAddress(address: string): { host: string; port: number } | undefined {
  const colon = address.lastIndexOf(':');
  if (colon <= 0 || address.length > 260) return undefined;
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    return ipv6Chars.test(host) && host.includes(':') ? { host, port } : undefined;
  }
  return hostName.test(host) && host.length <= 253 ? { host, port } : undefined;
}

function expressionText(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > MAX_EXPRESSION_LENGTH) {
    throw new InvalidPolicyField(field, `${show(v)}: expected an expression of 1 to ${MAX_EXPRESSION_LENGTH} characters`);
  }
  return v;
}

// ---- the CEL subset ----------------------------------------------------------------------

const attributeNames: readonly RateLimitAttributeName[] = [
  'request.method',
  'request.path',
  'request.host',
  'request.headers',
  'source.address',
  'source.principal',
  'source.namespace',
];
const attributeList = "request.method, request.path, request.host, request.headers['name'], source.address, source.principal, source.namespace";
const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

type Token =
  | { kind: 'ident'; text: string; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'punct'; text: string; at: number }
  | { kind: 'end'; text: ''; at: number };

/** Splits an expression into identifiers, string literals and the punctuation the subset uses. */
function tokenize(src: string, field: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i]!)) i++;
      tokens.push({ kind: 'ident', text: src.slice(start, i), at: start });
    } else if (c === "'" || c === '"') {
      const start = i;
      let text = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new InvalidPolicyField(field, `${show(src)}: unterminated string starting at column ${start + 1}`);
        const d = src[i]!;
        if (d === c) break;
        if (d === '\\') {
          const e = src[i + 1];
          const escaped = e === '\\' || e === "'" || e === '"' ? e : e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : undefined;
          if (escaped === undefined)
            throw new InvalidPolicyField(field, `${show(src)}: unsupported escape "\\${e ?? ''}" at column ${i + 1} (supported: \\\\ \\' \\" \\n \\r \\t)`);
          text += escaped;
          i += 2;
        } else {
          text += d;
          i++;
        }
      }
      i++;
      tokens.push({ kind: 'string', text, at: start });
    } else if (src.startsWith('==', i) || src.startsWith('!=', i)) {
      tokens.push({ kind: 'punct', text: src.slice(i, i + 2), at: i });
      i += 2;
    } else if ('.[]()'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, at: i });
      i++;
    } else {
      const hint =
        c === '&' || c === '|'
          ? ': one comparison per predicate; list several predicates under `when` (all must hold)'
          : c === '!'
            ? ': negation is not supported; use != with a literal'
            : c === '<' || c === '>'
              ? ': only ==, !=, startsWith, endsWith and matches are supported'
              : '';
      throw new InvalidPolicyField(field, `${show(src)}: unexpected ${JSON.stringify(c)} at column ${i + 1}${hint}`);
    }
  }
  tokens.push({ kind: 'end', text: '', at: src.length });
  return tokens;
}

class ExpressionParser {
  readonly #src: string;
  readonly #field: string;
  readonly #tokens: Token[];
  #pos = 0;

  constructor(src: string, field: string) {
    this.#src = src;
    this.#field = field;
    this.#tokens = tokenize(src, field);
  }

  fail(message: string, token: Token = this.peek()): never {
    const where = token.kind === 'end' ? 'at the end' : `at column ${token.at + 1}`;
    throw new InvalidPolicyField(this.#field, `${show(this.#src)}: ${message} ${where}`);
  }

  peek(): Token {
    return this.#tokens[this.#pos]!;
  }

  next(): Token {
    return this.#tokens[this.#pos++]!;
  }

  isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  expectPunct(text: string): void {
    if (!this.isPunct(text)) this.fail(`expected "${text}"`);
    this.#pos++;
  }

  expectEnd(): void {
    const t = this.peek();
    if (t.kind === 'end') return;
    if (t.kind === 'ident' && (t.text === 'and' || t.text === 'or'))
      this.fail('one comparison per predicate; list several predicates under `when` (all must hold)');
    this.fail(`unexpected ${JSON.stringify(t.text)}`);
  }

  /** `request.method`, `request.headers['x']`, ...; the name is checked against the subset. */
  attribute(): RateLimitAttribute {
    const first = this.peek();
    if (first.kind !== 'ident') this.fail(`expected an attribute (${attributeList})`);
    this.#pos++;
    if (!this.isPunct('.')) this.fail(`unknown attribute ${JSON.stringify(first.text)}; expected one of ${attributeList}`, first);
    this.#pos++;
    const second = this.next();
    const name = `${first.text}.${second.kind === 'ident' ? second.text : ''}`;
    if (second.kind !== 'ident' || !(attributeNames as readonly string[]).includes(name)) {
      this.fail(`unknown attribute ${JSON.stringify(name)}; expected one of ${attributeList}`, first);
    }
    if (name !== 'request.headers') return { name: name as RateLimitAttributeName };
    // CEL also allows request.headers.name; the index form is the one that can spell every header.
    if (!this.isPunct('[')) this.fail("expected request.headers['header-name']");
    this.#pos++;
    const key = this.next();
    if (key.kind !== 'string' || !headerToken.test(key.text)) this.fail('expected a quoted header name', key);
    this.expectPunct(']');
    return { name: 'request.headers', header: key.text.toLowerCase() };
  }
}

/** A counter expression: one attribute. */
export function parseCounterExpression(src: string, field: string): RateLimitAttribute {
  const p = new ExpressionParser(src, field);
  const attribute = p.attribute();
  if (p.isPunct('==') || p.isPunct('!=') || p.isPunct('.')) p.fail('a counter is an attribute, not a predicate (predicates go under `when`)');
  p.expectEnd();
  return attribute;
}

const methods: readonly RateLimitOperator[] = ['startsWith', 'endsWith', 'matches'];

/** A predicate: `attr == 'x'`, `'x' != attr`, `attr.startsWith('x')`, `.endsWith`, `.matches`. */
export function parsePredicate(src: string, field: string): RateLimitPredicate {
  const p = new ExpressionParser(src, field);
  const first = p.peek();
  if (first.kind === 'string') {
    p.next();
    const op = p.next();
    if (op.kind !== 'punct' || (op.text !== '==' && op.text !== '!=')) p.fail('expected == or != after a literal', op);
    const attribute = p.attribute();
    p.expectEnd();
    return { text: src, attribute, op: op.text as '==' | '!=', value: first.text };
  }
  const attribute = p.attribute();
  const op = p.next();
  if (op.kind === 'punct' && (op.text === '==' || op.text === '!=')) {
    const value = p.next();
    if (value.kind !== 'string') p.fail('expected a quoted string literal', value);
    p.expectEnd();
    return { text: src, attribute, op: op.text, value: value.text };
  }
  if (op.kind !== 'punct' || op.text !== '.') p.fail('expected ==, !=, .startsWith(), .endsWith() or .matches()', op);
  const method = p.next();
  if (method.kind !== 'ident' || !(methods as readonly string[]).includes(method.text)) {
    p.fail(`unsupported function ${JSON.stringify(method.text)}; expected startsWith, endsWith or matches`, method);
  }
  p.expectPunct('(');
  const arg = p.next();
  if (arg.kind !== 'string') p.fail('expected a quoted string literal', arg);
  p.expectPunct(')');
  p.expectEnd();
  const opName = method.text as RateLimitOperator;
  if (opName === 'matches') checkRegex(arg.text, src, field);
  return { text: src, attribute, op: opName, value: arg.text };
}

/**
 * CEL's `matches` is RE2: no backreferences or lookaround, and no backtracking. Refusing what
 * RE2 lacks keeps a policy meaning the same if the evaluator changes; the shared check
 * (safe-regex.ts) also refuses the shapes that backtrack exponentially in V8, since the regex
 * runs on every request against values the client chooses.
 */
function checkRegex(pattern: string, src: string, field: string): void {
  if (/\\[1-9]|\\k<|\(\?[=!]|\(\?<[=!]/.test(pattern)) {
    throw new InvalidPolicyField(field, `${show(src)}: regex ${show(pattern)} uses a backreference or lookaround, which RE2 (CEL's matches) does not have`);
  }
  const problem = regexProblem(pattern);
  if (problem !== undefined) throw new InvalidPolicyField(field, `${show(src)}: regex ${show(pattern)}: ${problem}`);
  try {
    new RegExp(pattern);
  } catch (err) {
    throw new InvalidPolicyField(field, `${show(src)}: invalid regex ${show(pattern)}: ${(err as Error).message}`);
  }
}
