// AMB0001 WaypointIdentityNotAllowed. Why: a waypoint does not impersonate the client, so the
// destination ztunnel sees every request that came through a waypoint as the waypoint's own
// identity (cluster.local/ns/<ns>/sa/<gateway name>). An ALLOW policy ztunnel enforces (no
// targetRefs) that names only the real clients then denies all of that traffic: the classic
// "works without a waypoint, 503s with one". ALLOW policies are ORed, so it fires only when no
// ALLOW policy applying to those workloads admits the waypoint.
import { type ClusterIndex, podsIn, servicesIn, servicesSelecting } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import { capturedByZtunnel, namespaceInMesh } from './enrollment.ts';
import type { Finding, KubeObject } from './finding.ts';
import { compareStrings, labelsOf, listed, matchesLabels, nameOf, namespaceOf, refOf } from './kube-fields.ts';
import { gatewayNameLabel, gatewayApiGroup } from '@ambient/api';
import { rootNamespace } from '../install-defaults.ts';
import { actionOf, enforcedByZtunnel, httpAttributesOf, rulesOf, selectorOf } from './policy-fields.ts';
import { anyOf, namedSources, type Verdict, ruleAdmits } from './source-match.ts';
import { boundWaypoint, formatWaypoint, sameWaypoint, type WaypointRef, waypointPrincipal } from './waypoint-binding.ts';

/** Workloads ztunnel enforces policy for, with the waypoints their inbound traffic passes. */
interface Destination {
  namespace: string;
  /** A pod, or the whole namespace when no pods are known (manifests not yet deployed). */
  kind: 'pod' | 'namespace';
  name: string;
  /** Unset for a whole namespace: selector policies cannot be matched against it. */
  labels?: Record<string, string>;
  waypoints: WaypointRef[];
}

interface Hit {
  policy: KubeObject;
  waypoint: WaypointRef;
  /** Pod names ("<ns>/<name>" outside the policy's namespace), and whole namespaces. */
  pods: Set<string>;
  namespaces: Set<string>;
  others: Set<string>;
}

export function waypointIdentityRule(index: ClusterIndex): Finding[] {
  const allows = allowsByNamespace(index);
  // The same policy meets the same waypoint once per pod: judge it once.
  const verdicts = new Map<KubeObject, Map<string, Verdict>>();
  const admits = (p: KubeObject, wp: WaypointRef): Verdict => {
    const byWaypoint = verdicts.get(p) ?? new Map<string, Verdict>();
    verdicts.set(p, byWaypoint);
    const key = formatWaypoint(wp);
    const v = byWaypoint.get(key) ?? admitsWaypoint(p, wp);
    byWaypoint.set(key, v);
    return v;
  };
  const hits = new Map<string, Hit>();
  for (const d of destinations(index)) {
    if (d.waypoints.length === 0) continue;
    const candidates =
      d.namespace === rootNamespace ? (allows.get(d.namespace) ?? []) : [...(allows.get(d.namespace) ?? []), ...(allows.get(rootNamespace) ?? [])];
    const applicable = candidates.filter((p) => appliesTo(p, d));
    for (const waypoint of d.waypoints) {
      if (applicable.some((p) => admits(p, waypoint) !== 'no')) continue;
      // A policy left with only HTTP rules is AMB0003's finding; one with no rules denies all on purpose.
      for (const policy of applicable.filter(hasL4Rule)) {
        const key = `${namespaceOf(policy)}/${nameOf(policy)}|${formatWaypoint(waypoint)}`;
        const hit = hits.get(key) ?? { policy, waypoint, pods: new Set(), namespaces: new Set(), others: new Set() };
        if (d.kind === 'namespace') hit.namespaces.add(d.name);
        else hit.pods.add(d.namespace === namespaceOf(policy) ? d.name : `${d.namespace}/${d.name}`);
        for (const other of applicable) if (other !== policy) hit.others.add(`${namespaceOf(other)}/${nameOf(other)}`);
        hits.set(key, hit);
      }
    }
  }
  return [...hits.values()].map((h) => toFinding(index, h));
}

function allowsByNamespace(index: ClusterIndex): Map<string, KubeObject[]> {
  const out = new Map<string, KubeObject[]>();
  for (const p of index.objects.authorizationPolicies) {
    if (!enforcedByZtunnel(p) || actionOf(p) !== 'ALLOW') continue;
    const list = out.get(namespaceOf(p));
    if (list) list.push(p);
    else out.set(namespaceOf(p), [p]);
  }
  return out;
}

function destinations(index: ClusterIndex): Destination[] {
  const namespaces = new Set([...index.namespaces.keys(), ...index.objects.pods.map(namespaceOf), ...index.objects.services.map(namespaceOf)]);
  return [...namespaces].sort(compareStrings).flatMap((ns) => destinationsIn(index, ns));
}

function destinationsIn(index: ClusterIndex, ns: string): Destination[] {
  const nsObject = index.namespaces.get(ns);
  // A waypoint's own pods are the waypoint, not workloads behind it.
  const pods = podsIn(index, ns).filter((p) => labelsOf(p)[gatewayNameLabel] === undefined);
  if (pods.length === 0) {
    // Without pods, the Services still say which waypoints the namespace's traffic passes.
    if (!namespaceInMesh(nsObject)) return [];
    return [{ namespace: ns, kind: 'namespace', name: ns, waypoints: unique(servicesIn(index, ns).map((s) => boundWaypoint(index, s, 'service'))) }];
  }
  return pods
    .filter((p) => capturedByZtunnel(p, nsObject))
    .map((p) => ({
      namespace: ns,
      kind: 'pod' as const,
      name: nameOf(p),
      labels: labelsOf(p),
      // Pod-addressed traffic takes the pod's waypoint; service-addressed traffic its Service's.
      waypoints: unique([boundWaypoint(index, p, 'workload'), ...servicesSelecting(index, p).map((s) => boundWaypoint(index, s, 'service'))]),
    }));
}

/** "pods a, b and 3 more", "namespace shop"; root-namespace policies reach other namespaces. */
function describe(h: Hit): string {
  const plural = (n: number, word: string) => (n > 1 ? `${word}s` : word);
  const parts = [];
  if (h.pods.size > 0) parts.push(`${plural(h.pods.size, 'pod')} ${listed([...h.pods])}`);
  if (h.namespaces.size > 0) parts.push(`${plural(h.namespaces.size, 'namespace')} ${listed([...h.namespaces])}`);
  return parts.join(' and ');
}

function appliesTo(policy: KubeObject, d: Destination): boolean {
  const ns = namespaceOf(policy);
  if (ns !== d.namespace && ns !== rootNamespace) return false;
  const selector = selectorOf(policy);
  if (Object.keys(selector).length === 0) return true;
  return d.labels !== undefined && matchesLabels(selector, d.labels);
}

/** ztunnel drops an ALLOW rule with HTTP attributes: such a rule admits no one. */
function admitsWaypoint(policy: KubeObject, waypoint: WaypointRef): Verdict {
  const peer = { namespace: waypoint.namespace, serviceAccount: waypoint.name };
  return anyOf(
    rulesOf(policy)
      .filter((r) => httpAttributesOf(r).length === 0)
      .map((r) => ruleAdmits(r, peer, namespaceOf(policy))),
  );
}

function hasL4Rule(policy: KubeObject): boolean {
  return rulesOf(policy).some((r) => httpAttributesOf(r).length === 0);
}

function toFinding(index: ClusterIndex, h: Hit): Finding {
  const principal = waypointPrincipal(h.waypoint);
  const named = namedSources(rulesOf(h.policy).filter((r) => httpAttributesOf(r).length === 0));
  const admits = named.length > 0 ? ` (it admits ${named.join('; ')})` : '';
  const others = h.others.size > 0 ? `, nor does any other ALLOW policy there (${listed([...h.others].sort(compareStrings))})` : '';
  const message =
    `ztunnel enforces this ALLOW policy on ${describe(h)}, whose traffic through waypoint ${formatWaypoint(h.waypoint)} ` +
    `arrives with the waypoint's identity ${principal}; no rule admits that identity${admits}${others}, so every request through the waypoint is denied`;
  return finding(codes.waypointIdentityNotAllowed, refOf('AuthorizationPolicy', h.policy), message, fixFor(index, h, principal));
}

function fixFor(index: ClusterIndex, h: Hit, principal: string): string {
  const ns = namespaceOf(h.policy);
  const add = `add "${principal}" to spec.rules[].from[].source.principals (kubectl edit authorizationpolicy ${nameOf(h.policy)} -n ${ns})`;
  if (ns === rootNamespace) return add;
  const verb = Object.keys(selectorOf(h.policy)).length > 0 ? 'replace spec.selector with' : 'add';
  // targetRefs name objects of the policy's own namespace: the waypoint itself only if it lives there.
  if (h.waypoint.namespace === ns) {
    return `${add}, or enforce the policy at the waypoint instead: ${verb} spec.targetRefs: [{group: ${gatewayApiGroup}, kind: Gateway, name: ${h.waypoint.name}}]`;
  }
  const services = servicesIn(index, ns)
    .filter((s) => {
      const bound = boundWaypoint(index, s, 'service');
      return bound !== undefined && sameWaypoint(bound, h.waypoint);
    })
    .map(nameOf)
    .sort(compareStrings);
  const refs = services.length > 0 ? services.map((s) => `{group: "", kind: Service, name: ${s}}`).join(', ') : '{group: "", kind: Service, name: <service>}';
  return `${add}, or enforce the policy at the waypoint instead: ${verb} spec.targetRefs: [${refs}]`;
}

function unique(refs: (WaypointRef | undefined)[]): WaypointRef[] {
  const out: WaypointRef[] = [];
  for (const r of refs) if (r !== undefined && !out.some((o) => sameWaypoint(o, r))) out.push(r);
  return out;
}
