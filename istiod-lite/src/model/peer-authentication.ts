// PeerAuthentication → whether a workload must only accept mTLS (HBONE) connections. As Istio
// does, STRICT becomes one shared DENY Authorization ("deny connections without a peer
// principal") that each effectively-STRICT workload lists in authorizationPolicies, so the
// precedence selector > namespace > mesh is decided here, per workload.
import type { Authorization } from '@ambient/api';
import { matchesLabelMap } from '@ambient/api/kube';
import type { KubeObject, Manifest, MeshOptions } from './inputs.ts';
import { labelsOf, namespaceOf, oldestFirst } from './kube-object.ts';
import { conditionStatusOf, type ObjectStatus } from './object-status.ts';
import { ztunnelAcceptedCondition } from './authorization-policy.ts';

export const staticStrictPolicyName = 'istio_converted_static_strict';

type Mode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'UNSET';
const modes: readonly Mode[] = ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'];

interface ParsedPeerAuthentication {
  object: KubeObject;
  mode: Mode;
  selector?: Record<string, string>;
}

export interface PeerAuthenticationIndex {
  /** Whether the pod must refuse plaintext (its effective mode is STRICT). */
  isStrict(pod: KubeObject): boolean;
  statuses: ObjectStatus[];
}

export function staticStrictAuthorization(opts: MeshOptions): Authorization {
  return {
    name: staticStrictPolicyName,
    namespace: opts.rootNamespace,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: true }] }] }] }],
    warnings: [],
  };
}

export function indexPeerAuthentications(objects: readonly KubeObject[], opts: MeshOptions): PeerAuthenticationIndex {
  const statuses: ObjectStatus[] = [];
  let mesh: ParsedPeerAuthentication | undefined;
  const byNamespace = new Map<string, ParsedPeerAuthentication>();
  const selectors = new Map<string, ParsedPeerAuthentication[]>();
  for (const object of [...objects].sort(oldestFirst)) {
    const toStatus = conditionStatusOf(object, 'PeerAuthentication', 'security.istio.io/v1', ztunnelAcceptedCondition);
    const status = (ok: boolean, reason: string, message: string): void => void statuses.push(toStatus(ok, reason, message));
    const parsed = parse(object);
    if (typeof parsed === 'string') {
      status(false, 'Invalid', parsed);
      continue;
    }
    if (parsed.portLevelNote !== undefined) status(true, 'UnsupportedValue', parsed.portLevelNote);
    else status(true, 'Accepted', 'attached to ztunnel');
    const ns = namespaceOf(object);
    const pa: ParsedPeerAuthentication = parsed.selector ? { object, mode: parsed.mode, selector: parsed.selector } : { object, mode: parsed.mode };
    if (pa.selector) {
      // Istio ignores selector policies in the root namespace for ambient.
      if (ns !== opts.rootNamespace) selectors.set(ns, [...(selectors.get(ns) ?? []), pa]);
    } else if (ns === opts.rootNamespace) {
      mesh ??= pa; // oldest wins
    } else if (!byNamespace.has(ns)) {
      byNamespace.set(ns, pa);
    }
  }
  return {
    statuses,
    isStrict(pod) {
      let strict = mesh?.mode === 'STRICT';
      const nsPolicy = byNamespace.get(namespaceOf(pod));
      if (nsPolicy && nsPolicy.mode !== 'UNSET') strict = nsPolicy.mode === 'STRICT';
      const workload = selectors.get(namespaceOf(pod))?.find((pa) => matchesLabelMap(pa.selector, labelsOf(pod)));
      if (workload && workload.mode !== 'UNSET') strict = workload.mode === 'STRICT';
      return strict;
    },
  };
}

function parse(object: KubeObject): { mode: Mode; selector?: Record<string, string>; portLevelNote?: string } | string {
  const spec = object.spec ?? {};
  const raw = spec.mtls?.mode ?? 'UNSET';
  if (!modes.includes(raw)) return `invalid mtls.mode "${raw}": expected STRICT, PERMISSIVE, DISABLE or UNSET`;
  let mode = raw as Mode;
  const selector = spec.selector?.matchLabels;
  const out: { mode: Mode; selector?: Record<string, string>; portLevelNote?: string } = { mode };
  if (selector && Object.keys(selector).length > 0) out.selector = selector;
  const portLevel = spec.portLevelMtls && typeof spec.portLevelMtls === 'object' ? Object.values<Manifest>(spec.portLevelMtls) : [];
  if (portLevel.length > 0) {
    // Per-port modes are not compiled. Never be looser than asked: any STRICT port makes every port STRICT.
    const anyStrict = mode === 'STRICT' || portLevel.some((p) => p?.mode === 'STRICT');
    if (anyStrict) mode = 'STRICT';
    out.mode = mode;
    out.portLevelNote = anyStrict
      ? 'portLevelMtls is not supported by ztunnel; the policy is enforced as STRICT on every port. This will be more restrictive than requested.'
      : `portLevelMtls is not supported by ztunnel; the policy is enforced as ${mode} on every port.`;
  }
  return out;
}
