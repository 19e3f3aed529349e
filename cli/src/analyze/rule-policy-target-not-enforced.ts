// AMB0004 PolicyTargetNotEnforced. Why: a policy with targetRefs is handed to the waypoint in
// front of its target and ztunnel ignores it. A target Service no waypoint fronts, or a target
// that does not exist, leaves the policy enforced nowhere: a DENY denies nothing and an ALLOW
// restricts nothing, with no error anywhere but a status condition (Istio's
// WaypointAccepted=False, AncestorNotBound / TargetNotFound).
import { type ClusterIndex, keyOf } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import type { Finding, KubeObject, Manifest } from './finding.ts';
import { compareStrings, labelsOf, listed, nameOf, namespaceOf, refOf, stringOf } from './kube-fields.ts';
import { kubectlLabel, waypointApply } from './kubectl.ts';
import { gatewayApiGroup, useWaypointLabel } from '@ambient/api';
import { actionOf, targetRefsOf } from './policy-fields.ts';
import { requestedWaypoint, waypointsIn } from './waypoint-binding.ts';

const unenforced = 'so no waypoint enforces the policy and ztunnel ignores policies with targetRefs: the traffic it should restrict is not checked';

export function policyTargetNotEnforcedRule(index: ClusterIndex): Finding[] {
  return index.objects.authorizationPolicies.flatMap((policy) => {
    // AUDIT changes no verdict: an unattached one loses nothing.
    if (actionOf(policy) === 'AUDIT') return [];
    return targetRefsOf(policy).flatMap((ref, i) => {
      const problem = checkTarget(index, policy, ref, `spec.targetRefs[${i}]`);
      return problem ? [finding(codes.policyTargetNotEnforced, refOf('AuthorizationPolicy', policy), problem.message, problem.fix)] : [];
    });
  });
}

function checkTarget(index: ClusterIndex, policy: KubeObject, ref: Manifest, path: string): { message: string; fix: string } | undefined {
  const ns = namespaceOf(policy);
  const kind = stringOf(ref?.kind);
  const group = stringOf(ref?.group) ?? '';
  const name = stringOf(ref?.name);
  // A reference without a name is rejected by the API's validation: nothing to resolve.
  if (name === undefined || name === '') return undefined;
  if (kind === 'Service' && (group === '' || group === 'core')) {
    const service = index.services.get(keyOf(ns, name));
    if (service === undefined) return missing(index.objects.services, 'Service', ns, name, path);
    return unbound(index, service, path);
  }
  if (kind === 'Gateway' && group === gatewayApiGroup && !index.gateways.has(keyOf(ns, name)))
    return missing(index.objects.gateways, 'Gateway', ns, name, path);
  // GatewayClass and ServiceEntry targets are not among the objects analyzed.
  return undefined;
}

function missing(candidates: KubeObject[], kind: string, ns: string, name: string, path: string): { message: string; fix: string } {
  const names = candidates.filter((o) => namespaceOf(o) === ns).map(nameOf);
  const known = names.length > 0 ? ` (${kind === 'Service' ? 'services' : 'gateways'} in ${ns}: ${listed(names.sort(compareStrings))})` : '';
  return {
    message: `${path} names ${kind} ${ns}/${name}, which does not exist, ${unenforced}`,
    fix: `fix ${path}.name${known} or create ${kind} ${ns}/${name}`,
  };
}

function unbound(index: ClusterIndex, service: KubeObject, path: string): { message: string; fix: string } | undefined {
  const ns = namespaceOf(service);
  // A label naming a missing or mismatched waypoint is AMB0002's or AMB0008's finding.
  if (requestedWaypoint(service, index.namespaces.get(ns)) !== undefined) return undefined;
  const optedOut = labelsOf(service)[useWaypointLabel] !== undefined;
  const why = optedOut
    ? `opts out with ${useWaypointLabel}=${labelsOf(service)[useWaypointLabel]}`
    : `has no ${useWaypointLabel} label, nor has namespace ${ns}`;
  const existing = waypointsIn(index, ns).map(nameOf);
  const bind = (wp: string) => kubectlLabel('service', service, `${useWaypointLabel}=${wp}`);
  return {
    message: `${path} names Service ${ns}/${nameOf(service)}, which is not bound to a waypoint (it ${why}), ${unenforced}`,
    fix:
      existing.length > 0
        ? `bind the service to a waypoint: ${bind(existing[0]!)}`
        : `deploy a waypoint and bind the service to it: ${waypointApply(ns, 'waypoint')}; ${bind('waypoint')}`,
  };
}
