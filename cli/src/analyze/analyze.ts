// The rule engine behind `kubectl ambient analyze`: pure functions from the cluster's objects to
// findings about the ambient-mode surprises users trip over (README.md lists every code). No
// I/O: the caller lists the objects and prints the findings.
import { indexCluster, type ClusterIndex } from './cluster-index.ts';
import type { ClusterObjects, Finding } from './finding.ts';
import { compareStrings } from './kube-fields.ts';
import { httpAttributesAtZtunnelRule } from './rule-http-attributes-at-ztunnel.ts';
import { policyTargetNotEnforcedRule } from './rule-policy-target-not-enforced.ts';
import { routeRefsRule } from './rule-route-refs.ts';
import { waypointIdentityRule } from './rule-waypoint-identity.ts';
import { waypointNotFoundRule } from './rule-waypoint-not-found.ts';
import { waypointTrafficTypeRule } from './rule-waypoint-traffic-type.ts';
import { waypointUserNotInMeshRule } from './rule-waypoint-user-not-in-mesh.ts';

export type { ClusterObjects, Finding, KubeObject, ObjectRef, Severity } from './finding.ts';
export { codes } from './codes.ts';

const rules: readonly ((index: ClusterIndex) => Finding[])[] = [
  waypointIdentityRule,
  waypointNotFoundRule,
  httpAttributesAtZtunnelRule,
  policyTargetNotEnforcedRule,
  routeRefsRule,
  waypointUserNotInMeshRule,
  waypointTrafficTypeRule,
];

/** Findings sorted by namespace (cluster-scoped objects first), kind, name, code, then message. */
export function analyze(objects: ClusterObjects): Finding[] {
  const index = indexCluster(objects);
  return rules.flatMap((rule) => rule(index)).sort(byObjectThenCode);
}

function byObjectThenCode(a: Finding, b: Finding): number {
  return (
    compareStrings(a.object.namespace ?? '', b.object.namespace ?? '') ||
    compareStrings(a.object.kind, b.object.kind) ||
    compareStrings(a.object.name, b.object.name) ||
    compareStrings(a.code, b.code) ||
    compareStrings(a.message, b.message)
  );
}
