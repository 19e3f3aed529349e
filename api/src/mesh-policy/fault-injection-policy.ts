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
import { MAX_REGEX_LENGTH, regexProblem } from './safe-regex.ts';
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
export const MAX_HEADER_REGEX_LENGTH = MAX_REGEX_LENGTH;
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

/** A header regex, compiled to match the whole value (Envoy's safe_regex is a full match); see safe-regex.ts for what is refused. */
export function compileHeaderRegex(pattern: string, field: string): RegExp {
  const problem = regexProblem(pattern);
  if (problem !== undefined) throw new InvalidPolicyField(field, `${show(pattern)}: ${problem}`);
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    throw new InvalidPolicyField(field, `${show(pattern)}: not a regular expression (${(err as Error).message})`);
  }
}
