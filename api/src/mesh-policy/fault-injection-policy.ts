// FaultInjectionPolicy (mesh.ambient.dev/v1alpha1): Istio's HTTPFaultInjection (the `fault`
// stanza of a VirtualService route) as a policy attachment, plus an optional header match in
// Gateway API's HTTPHeaderMatch shape, so that a fault can be aimed at test traffic only:
//
//   spec:
//     targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: reviews }]  # Gateway, HTTPRoute, GRPCRoute, Service; 1–16
//     match:
//       headers: [{ name: x-chaos, type: Exact, value: "on" }]  # all must match; type Exact (default) or RegularExpression; 0–16
//     fault:                                                     # delay, abort or both
//       delay: { fixedDelay: 5s, percentage: { value: 10 } }     # fixedDelay 1ms–1h (Gateway API duration)
//       abort: { httpStatus: 503, percentage: { value: 30 } }    # httpStatus 200–599, or grpcStatus: UNAVAILABLE
//
// A percentage left out means every request (Istio: absent means always); a percentage given
// must carry its `value` (0–100), since Istio reads `percentage: {}` as 0% — a fault that never
// fires — which is never what was meant.
import { parseTargetRefs, type PolicyTarget } from './policy-target.ts';
import { duration, HOUR_MS, InvalidPolicyField, integer, list, number, object, optionalObject, oneOf, show, string } from './spec-fields.ts';

export const faultInjectionPolicyKind = 'FaultInjectionPolicy';

/** gRPC status names as Istio's `grpcStatus` spells them (all caps, never the number) → code. */
export const grpcStatusCodes: Readonly<Record<string, number>> = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

export type FaultHeaderMatch =
  /** `name` lower-case (header names are case-insensitive; Node hands them over lower-cased). */
  | { name: string; type: 'Exact'; value: string }
  /** `regex` is `value` compiled to match the whole header value. */
  | { name: string; type: 'RegularExpression'; value: string; regex: RegExp };

export interface FaultDelay {
  fixedDelayMs: number;
  /** Share of the matching requests delayed, 0–100. */
  percent: number;
}

export type FaultAbort = { percent: number } & ({ httpStatus: number; grpcStatus?: undefined } | { grpcStatus: number; httpStatus?: undefined });

export interface FaultInjectionPolicySpec {
  targets: PolicyTarget[];
  /** All must match; empty = every request. */
  headers: FaultHeaderMatch[];
  /** At least one of `delay` and `abort` is set. */
  delay?: FaultDelay;
  abort?: FaultAbort;
}

export const MAX_HEADER_MATCHES = 16;
/** Longest header regex accepted: a bound on what one header value check can cost. */
export const MAX_HEADER_REGEX_LENGTH = 1024;
/** Gateway API HTTPHeaderMatch: value up to 4096 characters. */
const MAX_HEADER_VALUE_LENGTH = 4096;
/** Gateway API HTTPHeaderName (RFC 7230 token), up to 256 characters. */
const headerName = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;

/** The spec, or an `InvalidPolicyField` naming the first bad field and its value. */
export function parseFaultInjectionPolicy(spec: unknown): FaultInjectionPolicySpec {
  const s = object(spec, 'spec');
  const targets = parseTargetRefs(s, ['Gateway', 'HTTPRoute', 'GRPCRoute', 'Service']);
  const match = optionalObject(s.match, 'spec.match');
  const headers = parseHeaderMatches(match?.headers);
  const fault = object(s.fault, 'spec.fault');
  const out: FaultInjectionPolicySpec = { targets, headers };
  const delay = optionalObject(fault.delay, 'spec.fault.delay');
  if (delay !== undefined) {
    const fixedDelayMs = duration(delay.fixedDelay, 'spec.fault.delay.fixedDelay', 1, HOUR_MS);
    if (fixedDelayMs === undefined) throw new InvalidPolicyField('spec.fault.delay.fixedDelay', 'missing: expected a duration like "5s"');
    out.delay = { fixedDelayMs, percent: percentOf(delay.percentage, 'spec.fault.delay.percentage') };
  }
  const abort = optionalObject(fault.abort, 'spec.fault.abort');
  if (abort !== undefined) {
    const percent = percentOf(abort.percentage, 'spec.fault.abort.percentage');
    const hasHttp = abort.httpStatus !== undefined && abort.httpStatus !== null;
    const hasGrpc = abort.grpcStatus !== undefined && abort.grpcStatus !== null;
    if (hasHttp && hasGrpc) {
      throw new InvalidPolicyField('spec.fault.abort', `${show(abort)}: expected httpStatus or grpcStatus, not both`);
    }
    if (hasHttp) {
      out.abort = { percent, httpStatus: integer(abort.httpStatus, 'spec.fault.abort.httpStatus', 200, 599)! };
    } else if (hasGrpc) {
      const name = oneOf(abort.grpcStatus, 'spec.fault.abort.grpcStatus', Object.keys(grpcStatusCodes))!;
      out.abort = { percent, grpcStatus: grpcStatusCodes[name]! };
    } else {
      throw new InvalidPolicyField('spec.fault.abort', `${show(abort)}: expected httpStatus or grpcStatus`);
    }
  }
  if (out.delay === undefined && out.abort === undefined) throw new InvalidPolicyField('spec.fault', `${show(fault)}: expected delay, abort or both`);
  return out;
}

/** Istio's Percent `{value}`: absent = 100 (always). */
function percentOf(v: unknown, field: string): number {
  const p = optionalObject(v, field);
  if (p === undefined) return 100;
  const value = number(p.value, `${field}.value`, 0, 100);
  if (value === undefined) throw new InvalidPolicyField(`${field}.value`, 'missing: expected a number from 0 to 100 (leave out percentage for 100)');
  return value;
}

function parseHeaderMatches(v: unknown): FaultHeaderMatch[] {
  const seen = new Set<string>();
  return list(v, 'spec.match.headers', 0, MAX_HEADER_MATCHES).map((item, i) => {
    const at = `spec.match.headers[${i}]`;
    const h = object(item, at);
    if (typeof h.name !== 'string' || !headerName.test(h.name)) throw new InvalidPolicyField(`${at}.name`, `${show(h.name)}: not a header name`);
    const name = h.name.toLowerCase();
    // Gateway API lists header matches by name: a second entry for a name is a mistake, not an OR.
    if (seen.has(name)) throw new InvalidPolicyField(`${at}.name`, `${show(h.name)}: header already matched by an earlier entry`);
    seen.add(name);
    const type = oneOf(h.type, `${at}.type`, ['Exact', 'RegularExpression'] as const) ?? 'Exact';
    const value = string(h.value, `${at}.value`, MAX_HEADER_VALUE_LENGTH);
    if (value === undefined) throw new InvalidPolicyField(`${at}.value`, 'missing: expected a string of 1 to 4096 characters');
    if (type === 'Exact') return { name, type, value };
    return { name, type, value, regex: compileHeaderRegex(value, `${at}.value`) };
  });
}

/**
 * A header regex, compiled to match the whole value (Envoy's safe_regex is a full match).
 * Istio's Envoy runs RE2, which has no backtracking; V8 does backtrack, so what RE2 refuses
 * (lookaround, backreferences) is refused here too, and so is the classic exponential shape: a
 * group holding an unbounded repetition that is itself repeated (`(a+)+`, `(\w*)*`, `(x+){2,}`).
 * That check is a heuristic (an alternation of overlapping branches under a star still
 * backtracks); the length cap and the 16 KiB header limit bound what remains.
 */
export function compileHeaderRegex(pattern: string, field: string): RegExp {
  if (pattern.length > MAX_HEADER_REGEX_LENGTH) {
    throw new InvalidPolicyField(field, `${show(pattern)}: a regular expression of ${pattern.length} characters, over ${MAX_HEADER_REGEX_LENGTH}`);
  }
  const unsafe = unsafeRegexConstruct(pattern);
  if (unsafe !== undefined) throw new InvalidPolicyField(field, `${show(pattern)}: ${unsafe}`);
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    throw new InvalidPolicyField(field, `${show(pattern)}: not a regular expression (${(err as Error).message})`);
  }
}

const quantifierAt = /\{(\d+)(,(\d*))?\}/y;

/** Why `pattern` is refused (see compileHeaderRegex), or undefined. Scans JavaScript regex syntax. */
function unsafeRegexConstruct(pattern: string): string | undefined {
  // One frame per open group: whether an unbounded repetition occurs inside it.
  const groups: boolean[] = [false];
  let i = 0;
  /** The repetition at `i`, if any: 'unbounded' (*, +, {n,}), 'many' ({n,m} with m > 1), 'optional' (?, {0,1}, {n}), and its length. */
  const quantifier = (at: number): { kind: 'unbounded' | 'many' | 'optional'; length: number } | undefined => {
    const c = pattern[at];
    if (c === '*' || c === '+') return { kind: 'unbounded', length: pattern[at + 1] === '?' ? 2 : 1 };
    if (c === '?') return { kind: 'optional', length: pattern[at + 1] === '?' ? 2 : 1 };
    if (c !== '{') return undefined;
    quantifierAt.lastIndex = at;
    const m = quantifierAt.exec(pattern);
    if (m === null) return undefined; // a literal "{" (non-unicode syntax)
    const lazy = pattern[at + m[0].length] === '?' ? 1 : 0;
    const kind = m[2] === undefined ? 'optional' : m[3] === '' ? 'unbounded' : Number(m[3]) > 1 ? 'many' : 'optional';
    return { kind, length: m[0].length + lazy };
  };
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next !== undefined && next >= '1' && next <= '9') return 'backreferences are not supported (RE2)';
      if (next === 'k' && pattern[i + 2] === '<') return 'backreferences are not supported (RE2)';
      i += 2;
    } else if (c === '[') {
      // A character class: skip to its closing bracket (escapes inside included).
      i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      if (pattern.startsWith('(?=', i) || pattern.startsWith('(?!', i) || pattern.startsWith('(?<=', i) || pattern.startsWith('(?<!', i)) {
        return 'lookahead and lookbehind are not supported (RE2)';
      }
      groups.push(false);
      i++;
      continue;
    } else if (c === ')') {
      const inner = groups.length > 1 ? groups.pop()! : false;
      i++;
      const q = quantifier(i);
      if (q !== undefined) {
        if (inner && q.kind !== 'optional') return 'a repeated group containing an unbounded repetition can backtrack exponentially';
        if (inner || q.kind === 'unbounded') groups[groups.length - 1] = true;
        i += q.length;
      } else if (inner) {
        groups[groups.length - 1] = true;
      }
      continue;
    } else {
      i++;
    }
    const q = quantifier(i);
    if (q !== undefined) {
      if (q.kind === 'unbounded') groups[groups.length - 1] = true;
      i += q.length;
    }
  }
  return undefined;
}
