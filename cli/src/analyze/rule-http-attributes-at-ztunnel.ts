// AMB0003 HttpAttributesAtZtunnel. Why: a policy without targetRefs is enforced by ztunnel,
// which sees connections, not HTTP requests. Istio does not ignore what it cannot evaluate (that
// would loosen the policy): an ALLOW rule with HTTP attributes is dropped, so what it allows is
// denied, and a DENY rule is applied without its HTTP conditions, so it denies more. Either
// way traffic the author meant to let through is refused. Only a waypoint evaluates HTTP.
import type { ClusterIndex } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import type { Finding, KubeObject } from './finding.ts';
import { nameOf, namespaceOf, refOf } from './kube-fields.ts';
import { useWaypointLabel, gatewayApiGroup } from '@ambient/api';
import { kubectlLabel, named, waypointApply } from './kubectl.ts';
import { actionOf, enforcedByZtunnel, httpAttributesOf, rulesOf, selectorOf } from './policy-fields.ts';
import { ownWaypointRequest, waypointGateway, waypointsIn } from './waypoint-binding.ts';

export function httpAttributesAtZtunnelRule(index: ClusterIndex): Finding[] {
  return index.objects.authorizationPolicies.flatMap((policy) => {
    const action = actionOf(policy);
    // AUDIT changes no verdict and CUSTOM is never ztunnel's to evaluate: nothing to warn about.
    if (!enforcedByZtunnel(policy) || (action !== 'ALLOW' && action !== 'DENY')) return [];
    const rules = rulesOf(policy).map((rule, i) => ({ path: `rules[${i}]`, attributes: httpAttributesOf(rule) }));
    const http = rules.filter((r) => r.attributes.length > 0);
    if (http.length === 0) return [];
    const found = http.map((r) => `${r.path} (${r.attributes.join(', ')})`).join(', ');
    const effect =
      action === 'ALLOW'
        ? http.length === rules.length
          ? 'ztunnel drops those rules, and with none left the policy allows nothing: every connection to the workloads it selects is denied'
          : 'ztunnel drops those rules, so the requests they allow are denied'
        : 'ztunnel applies those rules without their HTTP conditions, so they deny every connection their other conditions match';
    const message = `ztunnel enforces this ${action} policy (it has no targetRefs) but cannot evaluate HTTP attributes in ${found}; ${effect}`;
    return [finding(codes.httpAttributesAtZtunnel, refOf('AuthorizationPolicy', policy), message, fixFor(index, policy))];
  });
}

/** Point at the namespace's waypoint when there is one; otherwise deploy one first. */
function fixFor(index: ClusterIndex, policy: KubeObject): string {
  const ns = namespaceOf(policy);
  const verb = Object.keys(selectorOf(policy)).length > 0 ? 'replace spec.selector with' : 'add';
  const nsObject = index.namespaces.get(ns);
  const requested = ownWaypointRequest(nsObject, ns);
  const local = requested?.namespace === ns && waypointGateway(index, requested) ? requested.name : waypointsIn(index, ns).map(nameOf)[0];
  const target = (name: string) =>
    `${verb} spec.targetRefs: [{group: ${gatewayApiGroup}, kind: Gateway, name: ${name}}] (or a Service bound to it: {group: "", kind: Service, name: <service>})`;
  if (local !== undefined) return `enforce it at waypoint ${ns}/${local}: ${target(local)}`;
  const create = `${waypointApply(ns, 'waypoint')}; ${kubectlLabel('namespace', nsObject ?? named(ns), `${useWaypointLabel}=waypoint`)}`;
  return `deploy a waypoint and send the namespace's traffic through it (${create}), then ${target('waypoint')}; or remove the HTTP attributes if L4 rules suffice (kubectl edit authorizationpolicy ${nameOf(policy)} -n ${ns})`;
}
