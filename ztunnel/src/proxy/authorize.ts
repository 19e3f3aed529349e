// L4 authorization at the destination, in Istio's order: any matching DENY denies; with no
// ALLOW policies the connection is allowed; otherwise some ALLOW must match. Pure: the inbound
// paths call authorize() per connection, and recheck() after a policy change.
//
// Match semantics (workload.proto): a policy's rules are OR'd, a rule ANDs its clauses (none =
// everything), a clause ORs its matches (none = nothing); a match is l4Matches, shared with the
// waypoint. A plaintext connection has no principal and no namespace, so
// `notPrincipals: [{presence: true}]` matches it — that is how STRICT PeerAuthentication denies
// plaintext.
import { parseSpiffeId } from '@ambient/api';
import type { Authorization, Workload } from '@ambient/api';
import { l4Matches, principalOf } from '@ambient/api/proxy-runtime';
import type { L4Subject, ProxyState } from '@ambient/api/proxy-runtime';

export interface ConnectionAttributes {
  /** The verified peer identity, spiffe://...; absent for plaintext. */
  sourceIdentity?: string;
  sourceIp: string;
  destinationWorkload: Workload;
  destinationIp: string;
  destinationPort: number;
}

export interface Decision {
  allow: boolean;
  /** "<namespace>/<name>" of the policy that decided, when one did. */
  policy?: string;
  reason: string;
}

export function authorize(state: ProxyState, conn: ConnectionAttributes): Decision {
  const workload = conn.destinationWorkload;
  // A listed policy that has not arrived could be a DENY (e.g. STRICT): fail closed until it does.
  const unknown = state.unknownPoliciesFor(workload);
  if (unknown.length > 0) return { allow: false, policy: unknown[0]!, reason: `policy ${unknown[0]} applies but has not been received` };

  const subject = subjectOf(conn);
  const policies = state.policiesFor(workload);
  const allows: Authorization[] = [];
  for (const policy of policies) {
    if (policy.action === 'DENY') {
      if (policyMatches(policy, subject)) return { allow: false, policy: keyOf(policy), reason: `denied by policy ${keyOf(policy)}` };
    } else {
      allows.push(policy);
    }
  }
  if (allows.length === 0) return { allow: true, reason: 'no allow policies apply' };
  const allowed = allows.find((policy) => policyMatches(policy, subject));
  if (allowed !== undefined) return { allow: true, policy: keyOf(allowed), reason: `allowed by policy ${keyOf(allowed)}` };
  return { allow: false, reason: `no allow policy matched (${allows.map(keyOf).join(', ')})` };
}

/**
 * After a policy (or workload) change: the live connections now denied, each with the decision.
 * The destination workload is re-read from the state, so a changed policy list takes effect.
 */
export function recheck<T extends ConnectionAttributes>(state: ProxyState, connections: Iterable<T>): { connection: T; decision: Decision }[] {
  const denied: { connection: T; decision: Decision }[] = [];
  for (const connection of connections) {
    const current = state.workloadByUid(connection.destinationWorkload.uid) ?? connection.destinationWorkload;
    const decision = authorize(state, { ...connection, destinationWorkload: current });
    if (!decision.allow) denied.push({ connection, decision });
  }
  return denied;
}

/** What a match is evaluated against: derived once per connection. */
function subjectOf(conn: ConnectionAttributes): L4Subject {
  const subject: L4Subject = { sourceIp: conn.sourceIp, destinationIp: conn.destinationIp, destinationPort: conn.destinationPort };
  if (conn.sourceIdentity) {
    subject.principal = principalOf(conn.sourceIdentity);
    const id = parseSpiffeId(conn.sourceIdentity);
    if (id !== undefined) subject.namespace = id.namespace;
  }
  return subject;
}

function policyMatches(policy: Authorization, subject: L4Subject): boolean {
  // No rules: an ALLOW admits nothing, a DENY denies nothing.
  return (policy.rules ?? []).some((rule) => (rule.clauses ?? []).every((clause) => (clause.matches ?? []).some((m) => l4Matches(m, subject))));
}

function keyOf(policy: Authorization): string {
  return `${policy.namespace}/${policy.name}`;
}
