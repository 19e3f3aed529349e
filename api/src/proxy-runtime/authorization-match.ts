// The AuthorizationPolicy matchers both proxies evaluate: the L4 fields (namespaces, principals,
// source and destination IPs, destination ports) at ztunnel per connection, and again at the
// waypoint under its L7 fields. Pure, over plain data.
//
// Semantics (workload.proto): a match ANDs its non-empty fields and ORs the values within one;
// not* values must not match. An absent value (a plaintext peer has no principal or namespace)
// matches no value, so only its negations hold: `notPrincipals: [{presence: true}]` matches a
// plaintext connection, which is how STRICT PeerAuthentication denies it.
import type { Cidr, Match, StringMatch } from '../mesh-types.ts';
import { cidrContains } from './state/ip-address.ts';

/** What the L4 fields of a match are evaluated against: derived once per connection or request. */
export interface L4Subject {
  /** The peer's identity without "spiffe://" ("cluster.local/ns/a/sa/b"), Istio's principal form. */
  principal?: string;
  namespace?: string;
  sourceIp: string;
  /** Absent where no destination IP is known (the waypoint's L7 matches have no destinationIps). */
  destinationIp?: string;
  destinationPort: number;
}

/** The L4 fields of `m` against `s`; fields `m` leaves empty do not constrain. */
export function l4Matches(m: Match, s: L4Subject): boolean {
  return (
    field(m.namespaces, m.notNamespaces, (v) => stringMatches(v, s.namespace)) &&
    field(m.principals, m.notPrincipals, (v) => stringMatches(v, s.principal)) &&
    field(m.sourceIps, m.notSourceIps, (v) => cidrMatches(v, s.sourceIp)) &&
    field(m.destinationIps, m.notDestinationIps, (v) => s.destinationIp !== undefined && cidrMatches(v, s.destinationIp)) &&
    field(m.destinationPorts, m.notDestinationPorts, (v) => v === s.destinationPort)
  );
}

/** A field with no values does not constrain; with values one must match; no negated value may. */
export function field<T>(values: readonly T[] | undefined, negated: readonly T[] | undefined, test: (v: T) => boolean): boolean {
  if (values !== undefined && values.length > 0 && !values.some(test)) return false;
  return negated === undefined || !negated.some(test);
}

/** Istio's StringMatch: an absent or empty value matches nothing, not even presence. */
export function stringMatches(m: StringMatch, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  if ('exact' in m) return value === m.exact;
  if ('prefix' in m) return value.startsWith(m.prefix);
  if ('suffix' in m) return value.endsWith(m.suffix);
  return true; // presence: any non-empty value (Istio ignores the flag's value)
}

export function cidrMatches(c: Cidr, ip: string): boolean {
  return cidrContains(c.address, c.length ?? 0, ip);
}

/** A SPIFFE ID in the form policies name principals: "spiffe://td/ns/a/sa/b" → "td/ns/a/sa/b". */
export function principalOf(identity: string): string {
  return identity.startsWith('spiffe://') ? identity.slice('spiffe://'.length) : identity;
}
