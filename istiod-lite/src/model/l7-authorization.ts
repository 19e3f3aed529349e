// AuthorizationPolicy with targetRefs → L7 authorizations for the waypoint that fronts the
// target (a waypoint Gateway, or a Service bound to a waypoint), and the WaypointAccepted
// condition saying where it was attached or why not.
import type { AuthorizationAction, L7Authorization, L7Clause, L7Match, L7Rule } from '@ambient/api';
import { nameOf, namespaceOf } from './kube-object.ts';
import { gatewayApiGroup } from '@ambient/api';
import { conditionStatusOf, type ObjectStatus } from './object-status.ts';
import { sourceMatch } from './authorization-policy.ts';
import type { KubeObject, Manifest, MeshOptions } from './inputs.ts';
import { compact, InvalidPolicyError, stringList, toCidrs, toPorts, toPrincipalMatches, toStringMatches } from './policy-values.ts';
import type { Waypoint, WaypointBinding } from './waypoints.ts';

export const waypointAcceptedCondition = 'WaypointAccepted';

export interface L7Context {
  opts: MeshOptions;
  waypoints: Map<string, Waypoint>;
  /** "<namespace>/<hostname>" → binding of that service. */
  bindings: Map<string, WaypointBinding>;
}

/** Compiled policies grouped by waypoint "<namespace>/<name>", plus their statuses. */
export function compileL7Policies(policies: readonly KubeObject[], ctx: L7Context): { byWaypoint: Map<string, L7Authorization[]>; statuses: ObjectStatus[] } {
  const byWaypoint = new Map<string, L7Authorization[]>();
  const statuses: ObjectStatus[] = [];
  for (const policy of policies) {
    const spec = policy.spec ?? {};
    const refs: Manifest[] = Array.isArray(spec.targetRefs) && spec.targetRefs.length > 0 ? spec.targetRefs : spec.targetRef ? [spec.targetRef] : [];
    if (refs.length === 0) continue;
    const ns = namespaceOf(policy);
    const toStatus = conditionStatusOf(policy, 'AuthorizationPolicy', 'security.istio.io/v1', waypointAcceptedCondition);
    const status = (ok: boolean, reason: string, message: string): void => void statuses.push(toStatus(ok, reason, message));
    const action = spec.action ?? 'ALLOW';
    // AUDIT only asks for audit logs, which the waypoint does not write: it changes no verdict.
    if (action === 'AUDIT') {
      status(false, 'UnsupportedValue', 'waypoints do not support the AUDIT action: it has no effect on traffic');
      continue;
    }
    // What cannot be enforced as written fails closed, as in Istio: a DENY (or an action of
    // unknown intent, or CUSTOM, whose external authorizer the waypoint cannot consult) denies
    // every request to its targets, an ALLOW allows nothing. Dropping it instead would turn a
    // DENY off and an ALLOW-only service into allow-all.
    let compiled: { action: AuthorizationAction; rules: L7Rule[]; problem?: string };
    if (action !== 'ALLOW' && action !== 'DENY') {
      const what =
        action === 'CUSTOM'
          ? 'action CUSTOM needs an external authorizer, which waypoints do not consult'
          : `invalid action "${action}": expected ALLOW, DENY, AUDIT or CUSTOM`;
      compiled = { action: 'DENY', rules: [{ clauses: [] }], problem: what };
    } else {
      try {
        if (spec.rules !== undefined && spec.rules !== null && !Array.isArray(spec.rules)) throw new InvalidPolicyError('invalid rules: expected a list');
        compiled = { action, rules: (spec.rules ?? []).map((r: Manifest, i: number) => compileRule(r ?? {}, `rules[${i}]`, ns, ctx.opts)) };
      } catch (err) {
        if (!(err instanceof InvalidPolicyError)) throw err;
        compiled = action === 'DENY' ? { action, rules: [{ clauses: [] }], problem: err.message } : { action, rules: [], problem: err.message };
      }
    }
    // Attach to every target that resolves; report the first that does not.
    const targets = new Map<string, Set<string>>();
    const problems: { reason: string; message: string }[] = [];
    for (const ref of refs) {
      const t = resolveTarget(ref, ns, ctx);
      if ('error' in t) {
        problems.push(t.error);
        continue;
      }
      const set = targets.get(t.waypoint) ?? new Set();
      set.add(t.target);
      targets.set(t.waypoint, set);
    }
    for (const [wp, set] of targets) {
      const list = byWaypoint.get(wp) ?? [];
      list.push({ name: nameOf(policy), namespace: ns, action: compiled.action, targets: [...set].sort(), rules: compiled.rules });
      byWaypoint.set(wp, list);
    }
    if (compiled.problem !== undefined) {
      status(false, 'Invalid', `${compiled.problem}; enforced as ${compiled.action === 'DENY' ? 'deny-all' : 'allow-nothing'} for its targets until fixed`);
    } else if (problems.length > 0) status(false, problems[0]!.reason, problems.map((p) => p.message).join('; '));
    else status(true, 'Accepted', `bound to ${[...targets.keys()].sort().join(', ')}`);
  }
  for (const list of byWaypoint.values()) list.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return { byWaypoint, statuses };
}

function resolveTarget(ref: Manifest, ns: string, ctx: L7Context): { waypoint: string; target: string } | { error: { reason: string; message: string } } {
  const kind = ref?.kind;
  const group = ref?.group ?? '';
  const name = ref?.name;
  if (kind === 'Gateway' && group === gatewayApiGroup) {
    const wp = ctx.waypoints.get(`${ns}/${name}`);
    if (!wp) return { error: { reason: 'TargetNotFound', message: `gateway ${ns}/${name} not found or not an istio-waypoint gateway` } };
    return { waypoint: `${ns}/${name}`, target: 'gateway' };
  }
  if (kind === 'Service' && (group === '' || group === 'core')) {
    const hostname = `${name}.${ns}.svc.${ctx.opts.clusterDomain}`;
    const binding = ctx.bindings.get(`${ns}/${hostname}`);
    if (!binding) return { error: { reason: 'TargetNotFound', message: `service ${ns}/${name} not found` } };
    if (!binding.waypoint) return { error: { reason: 'AncestorNotBound', message: `service ${ns}/${name} is not bound to a waypoint` } };
    return { waypoint: `${binding.waypoint.namespace}/${binding.waypoint.name}`, target: hostname };
  }
  return { error: { reason: 'TargetNotFound', message: `unsupported targetRef ${group}/${kind} ${name}: expected a waypoint Gateway or a Service` } };
}

/** Istio's rule: to (OR of operations) AND from (OR of sources) AND each when condition. */
function compileRule(rule: Manifest, path: string, ns: string, opts: MeshOptions): L7Rule {
  const clauses: L7Clause[] = [];
  const to: Manifest[] = Array.isArray(rule.to) ? rule.to : [];
  if (to.length > 0) clauses.push({ matches: to.map((t, j) => operation(t?.operation ?? {}, `${path}.to[${j}].operation`)) });
  const from: Manifest[] = Array.isArray(rule.from) ? rule.from : [];
  if (from.length > 0) clauses.push({ matches: from.map((f, j) => source(f?.source ?? {}, `${path}.from[${j}].source`, ns, opts)) });
  for (const [j, w] of (Array.isArray(rule.when) ? rule.when : []).entries()) clauses.push({ matches: [when(w ?? {}, `${path}.when[${j}]`)] });
  return { clauses };
}

function operation(op: Manifest, p: string): L7Match {
  const m = compact<L7Match>({
    hosts: toStringMatches(op.hosts, `${p}.hosts`),
    notHosts: toStringMatches(op.notHosts, `${p}.notHosts`),
    methods: toStringMatches(op.methods, `${p}.methods`),
    notMethods: toStringMatches(op.notMethods, `${p}.notMethods`),
    paths: toStringMatches(op.paths, `${p}.paths`),
    notPaths: toStringMatches(op.notPaths, `${p}.notPaths`),
    destinationPorts: toPorts(op.ports, `${p}.ports`),
    notDestinationPorts: toPorts(op.notPorts, `${p}.notPorts`),
  });
  if (Object.keys(m).length === 0) throw new InvalidPolicyError(`invalid ${p}: must not be empty`);
  return m;
}

function source(src: Manifest, p: string, ns: string, opts: MeshOptions): L7Match {
  if (src.remoteIpBlocks || src.notRemoteIpBlocks) throw new InvalidPolicyError(`invalid ${p}: remoteIpBlocks is not supported by waypoints`);
  const m = compact<L7Match>({
    ...sourceMatch(src, p, ns, opts.trustDomain),
    requestPrincipals: toStringMatches(src.requestPrincipals, `${p}.requestPrincipals`),
    notRequestPrincipals: toStringMatches(src.notRequestPrincipals, `${p}.notRequestPrincipals`),
  });
  if (Object.keys(m).length === 0) throw new InvalidPolicyError(`invalid ${p}: must not be empty`);
  return m;
}

function when(w: Manifest, p: string): L7Match {
  const key = w.key;
  const values = stringList(w.values, `${p}.values`);
  const notValues = stringList(w.notValues, `${p}.notValues`);
  if (typeof key !== 'string' || (values.length === 0 && notValues.length === 0))
    throw new InvalidPolicyError(`invalid ${p}: needs a key and values or notValues`);
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header) {
    const name = header[1]!.toLowerCase();
    const m: L7Match = {};
    if (values.length) m.headers = [{ name, values: toStringMatches(values, `${p}.values`) }];
    if (notValues.length) m.notHeaders = [{ name, values: toStringMatches(notValues, `${p}.notValues`) }];
    return m;
  }
  const fields: Record<string, [keyof L7Match, keyof L7Match, (v: unknown, f: string) => unknown[]]> = {
    'source.ip': ['sourceIps', 'notSourceIps', toCidrs],
    'source.namespace': ['namespaces', 'notNamespaces', (v, f) => toStringMatches(v, f)],
    'source.principal': ['principals', 'notPrincipals', toPrincipalMatches],
    'destination.port': ['destinationPorts', 'notDestinationPorts', toPorts],
    'request.auth.principal': ['requestPrincipals', 'notRequestPrincipals', (v, f) => toStringMatches(v, f)],
  };
  const f = fields[key];
  if (!f) throw new InvalidPolicyError(`invalid ${p}.key "${key}": not supported by waypoints`);
  return compact<L7Match>({ [f[0]]: f[2](values, `${p}.values`), [f[1]]: f[2](notValues, `${p}.notValues`) } as L7Match);
}
