// AuthorizationPolicy → the L4 Authorization ztunnel enforces, with Istio's rules for what
// ztunnel cannot see: HTTP attributes make a policy stricter, never looser, and the policy's
// ZtunnelAccepted condition says so in Istio's words.
import type { Authorization, AuthorizationAction, Clause, Match, Rule } from '@ambient/api';
import type { KubeObject, Manifest, MeshOptions } from './inputs.ts';
import { nameOf, namespaceOf } from './kube-object.ts';
import { conditionStatusOf, type ObjectStatus } from './object-status.ts';
import { compact, InvalidPolicyError, serviceAccountPrincipals, toCidrs, toPorts, toPrincipalMatches, toStringMatches } from './policy-values.ts';

export const ztunnelAcceptedCondition = 'ZtunnelAccepted';

const httpRuleFmt = (found: string, boilerplate: string): string =>
  `ztunnel does not support HTTP attributes (found: ${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ${boilerplate}`;
const httpAllowBoilerplate = 'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';
const httpDenyBoilerplate = 'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';

const l7OperationFields = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const l7SourceFields = ['remoteIpBlocks', 'notRemoteIpBlocks', 'requestPrincipals', 'notRequestPrincipals'] as const;
const l4WhenKeys = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);

export interface CompiledL4Policy {
  authorization?: Authorization;
  /** matchLabels of a WORKLOAD_SELECTOR policy. */
  selector?: Record<string, string>;
  status?: ObjectStatus;
}

export function hasTargetRefs(policy: KubeObject): boolean {
  const s = policy.spec ?? {};
  return (Array.isArray(s.targetRefs) && s.targetRefs.length > 0) || (s.targetRef !== undefined && s.targetRef !== null);
}

/** Policies with targetRefs belong to waypoints: nothing here (see l7-authorization.ts). */
export function compileL4Policy(policy: KubeObject, opts: MeshOptions): CompiledL4Policy {
  if (hasTargetRefs(policy)) return {};
  const namespace = namespaceOf(policy);
  const name = nameOf(policy);
  const status = conditionStatusOf(policy, 'AuthorizationPolicy', 'security.istio.io/v1', ztunnelAcceptedCondition);
  const spec = policy.spec ?? {};
  const actionName = spec.action ?? 'ALLOW';
  const selector = spec.selector?.matchLabels;
  const hasSelector = selector !== undefined && selector !== null && Object.keys(selector).length > 0;
  const scope = hasSelector ? 'WORKLOAD_SELECTOR' : namespace === opts.rootNamespace ? 'GLOBAL' : 'NAMESPACE';
  const enforce = (action: AuthorizationAction, rules: Rule[], s: ObjectStatus, warnings: string[] = []): CompiledL4Policy => {
    const authorization: Authorization = { name, namespace, scope, action, rules, warnings };
    return hasSelector ? { authorization, selector, status: s } : { authorization, status: s };
  };
  // What cannot be enforced as written fails closed, as in Istio: a DENY (or an action of
  // unknown intent) denies everything for the workloads it selects, an ALLOW allows nothing.
  // Dropping it instead would turn a DENY off and an ALLOW-only workload into allow-all.
  const failClosed = (action: AuthorizationAction, problem: string): CompiledL4Policy => {
    const message = `${problem}; enforced as ${action === 'DENY' ? 'deny-all' : 'allow-nothing'} for the workloads it selects until fixed`;
    return enforce(action, action === 'DENY' ? [{ clauses: [] }] : [], status(false, 'Invalid', message), [message]);
  };
  // AUDIT only asks for audit logs, which ztunnel does not write: it changes no verdict.
  if (actionName === 'AUDIT') return { status: status(false, 'UnsupportedValue', 'ztunnel does not support the AUDIT action: it has no effect on traffic') };
  if (actionName !== 'ALLOW' && actionName !== 'DENY' && actionName !== 'CUSTOM') {
    return failClosed('DENY', `invalid action "${actionName}": expected ALLOW, DENY, AUDIT or CUSTOM`);
  }
  // CUSTOM hands the verdict to an external provider ztunnel cannot consult: deny what it covers.
  const action: AuthorizationAction = actionName === 'ALLOW' ? 'ALLOW' : 'DENY';
  try {
    if (spec.rules !== undefined && spec.rules !== null && !Array.isArray(spec.rules)) throw new InvalidPolicyError('invalid rules: expected a list');
    const found = new Set<string>();
    const rules: Rule[] = [];
    for (const [i, rule] of (spec.rules ?? []).entries()) {
      const compiled = compileRule(rule ?? {}, `rules[${i}]`, action, namespace, opts, found);
      if (compiled !== undefined) rules.push(compiled);
    }
    if (actionName === 'CUSTOM') {
      const message = "ztunnel cannot consult the CUSTOM action's provider: enforced as a DENY of what its rules match";
      return enforce(action, rules, status(false, 'UnsupportedValue', message), [message]);
    }
    if (found.size > 0) {
      const message = httpRuleFmt([...found].sort().join(', '), action === 'ALLOW' ? httpAllowBoilerplate : httpDenyBoilerplate);
      return enforce(action, rules, status(true, 'UnsupportedValue', message), [message]);
    }
    return enforce(action, rules, status(true, 'Accepted', 'attached to ztunnel'));
  } catch (err) {
    if (err instanceof InvalidPolicyError) return failClosed(action, err.message);
    throw err;
  }
}

/**
 * One Istio rule → AND of clauses (to, from, each when). For an ALLOW rule with HTTP attributes
 * the rule is dropped (it can only allow less). For DENY the HTTP parts are removed, so it matches
 * more; a clause left with an empty match would match everything, so it is dropped instead of
 * being sent as an empty match (which a proxy might read as "matches nothing").
 */
function compileRule(rule: Manifest, path: string, action: AuthorizationAction, namespace: string, opts: MeshOptions, found: Set<string>): Rule | undefined {
  let usesL7 = false;
  const clauses: Clause[] = [];
  const addClause = (matches: Match[]): void => {
    if (matches.length > 0 && !matches.some((m) => Object.keys(m).length === 0)) clauses.push({ matches });
  };
  const to: Manifest[] = listOf(rule.to, `${path}.to`);
  addClause(
    to.map((t, j) => {
      const op = t?.operation ?? {};
      const p = `${path}.to[${j}].operation`;
      requireSomething(op, p);
      for (const f of l7OperationFields)
        if (nonEmpty(op[f])) {
          usesL7 = true;
          found.add(f);
        }
      return compact<Match>({ destinationPorts: toPorts(op.ports, `${p}.ports`), notDestinationPorts: toPorts(op.notPorts, `${p}.notPorts`) });
    }),
  );
  const from: Manifest[] = listOf(rule.from, `${path}.from`);
  addClause(
    from.map((f, j) => {
      const src = f?.source ?? {};
      const p = `${path}.from[${j}].source`;
      requireSomething(src, p);
      for (const field of l7SourceFields)
        if (nonEmpty(src[field])) {
          usesL7 = true;
          found.add(field);
        }
      return compact<Match>(sourceMatch(src, p, namespace, opts.trustDomain));
    }),
  );
  for (const [j, when] of listOf(rule.when, `${path}.when`).entries()) {
    const key = when?.key;
    const p = `${path}.when[${j}]`;
    if (typeof key !== 'string' || key === '') throw new InvalidPolicyError(`invalid ${p}.key: expected a non-empty string`);
    if (!nonEmpty(when.values) && !nonEmpty(when.notValues)) throw new InvalidPolicyError(`invalid ${p}: key "${key}" needs values or notValues`);
    if (!l4WhenKeys.has(key)) {
      usesL7 = true;
      found.add(key);
      continue;
    }
    addClause(
      [whenMatch(key, when.values, false, `${p}.values`), whenMatch(key, when.notValues, true, `${p}.notValues`)]
        .filter((m) => Object.keys(m).length > 0)
        .reduce<Match[]>((acc, m) => (acc.length === 0 ? [m] : [{ ...acc[0], ...m }]), []),
    );
  }
  if (usesL7 && action === 'ALLOW') return undefined;
  return { clauses };
}

function whenMatch(key: string, values: unknown, negate: boolean, field: string): Match {
  switch (key) {
    case 'source.ip':
      return compact<Match>(negate ? { notSourceIps: toCidrs(values, field) } : { sourceIps: toCidrs(values, field) });
    case 'source.namespace':
      return compact<Match>(negate ? { notNamespaces: toStringMatches(values, field) } : { namespaces: toStringMatches(values, field) });
    case 'source.principal':
      return compact<Match>(negate ? { notPrincipals: toPrincipalMatches(values, field) } : { principals: toPrincipalMatches(values, field) });
    case 'destination.ip':
      return compact<Match>(negate ? { notDestinationIps: toCidrs(values, field) } : { destinationIps: toCidrs(values, field) });
    default:
      return compact<Match>(negate ? { notDestinationPorts: toPorts(values, field) } : { destinationPorts: toPorts(values, field) });
  }
}

function listOf(v: unknown, field: string): Manifest[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidPolicyError(`invalid ${field}: expected a list`);
  return v;
}

/** Istio rejects an empty source/operation; treating it as "anything" could allow too much. */
function requireSomething(o: Manifest, field: string): void {
  if (typeof o !== 'object' || o === null || !Object.values(o).some(nonEmpty)) throw new InvalidPolicyError(`invalid ${field}: must not be empty`);
}

function nonEmpty(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0;
}

/** The source fields ztunnel (L4) and waypoints (L7) both read, as Match fields. */
export function sourceMatch(src: Manifest, p: string, namespace: string, trustDomain: string): Match {
  if (nonEmpty(src.principals) && nonEmpty(src.serviceAccounts)) {
    throw new InvalidPolicyError(`invalid ${p}: principals and serviceAccounts together are not supported`);
  }
  return {
    principals: [
      ...toPrincipalMatches(src.principals, `${p}.principals`),
      ...serviceAccountPrincipals(src.serviceAccounts, `${p}.serviceAccounts`, namespace, trustDomain),
    ],
    notPrincipals: [
      ...toPrincipalMatches(src.notPrincipals, `${p}.notPrincipals`),
      ...serviceAccountPrincipals(src.notServiceAccounts, `${p}.notServiceAccounts`, namespace, trustDomain),
    ],
    namespaces: toStringMatches(src.namespaces, `${p}.namespaces`),
    notNamespaces: toStringMatches(src.notNamespaces, `${p}.notNamespaces`),
    sourceIps: toCidrs(src.ipBlocks, `${p}.ipBlocks`),
    notSourceIps: toCidrs(src.notIpBlocks, `${p}.notIpBlocks`),
  };
}
