// AMB0007 WaypointUserNotInMesh. Why: a waypoint only sees what ztunnel hands it, and ztunnel
// only handles pods enrolled in the ambient mesh (istio.io/dataplane-mode=ambient on the
// namespace, or on the pod). Labelling a namespace, Service or pod with istio.io/use-waypoint
// without enrolling it looks configured but leaves the waypoint out of the path (Istio warns
// the same way when a waypoint is applied to an unlabelled namespace).
import { type ClusterIndex, podsIn, podsSelectedBy } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import { capturedByZtunnel, hasSidecar, namespaceInMesh } from './enrollment.ts';
import type { Finding, KubeObject } from './finding.ts';
import { labelsOf, nameOf, namespaceOf, refOf } from './kube-fields.ts';
import { kubectlLabel } from './kubectl.ts';
import { dataplaneModeLabel } from '@ambient/api';
import { formatWaypoint, ownWaypointRequest, type WaypointRef } from './waypoint-binding.ts';

export function waypointUserNotInMeshRule(index: ClusterIndex): Finding[] {
  return [
    ...index.objects.namespaces.flatMap((ns) => namespaceFinding(index, ns)),
    ...index.objects.services.flatMap((svc) => serviceFinding(index, svc)),
    ...index.objects.pods.flatMap((pod) => podFinding(index, pod)),
  ];
}

/** A pod enrolled by its own label still brings its traffic to ztunnel, hence to the waypoint. */
function anyEnrolledPod(pods: KubeObject[]): boolean {
  return pods.some((p) => labelsOf(p)[dataplaneModeLabel] === 'ambient');
}

function namespaceFinding(index: ClusterIndex, ns: KubeObject): Finding[] {
  const ref = ownWaypointRequest(ns, nameOf(ns));
  if (ref === undefined || namespaceInMesh(ns) || anyEnrolledPod(podsIn(index, nameOf(ns)))) return [];
  return [make('Namespace', ns, ns, ref, `namespace ${nameOf(ns)}`)];
}

function serviceFinding(index: ClusterIndex, svc: KubeObject): Finding[] {
  const ns = index.namespaces.get(namespaceOf(svc));
  const ref = ownWaypointRequest(svc, namespaceOf(svc));
  // A namespace the analysis was not given may well be enrolled: say nothing rather than guess.
  if (ref === undefined || ns === undefined || namespaceInMesh(ns) || anyEnrolledPod(podsSelectedBy(index, svc))) return [];
  return [make('Service', svc, ns, ref, `service ${nameOf(svc)}`)];
}

function podFinding(index: ClusterIndex, pod: KubeObject): Finding[] {
  const ns = index.namespaces.get(namespaceOf(pod));
  const ref = ownWaypointRequest(pod, namespaceOf(pod));
  // Host-network and sidecar pods are never ztunnel's: enrolling them would change nothing.
  if (ref === undefined || ns === undefined || pod.spec?.hostNetwork === true || hasSidecar(pod) || capturedByZtunnel(pod, ns)) return [];
  return [make('Pod', pod, ns, ref, `pod ${nameOf(pod)}`)];
}

function make(kind: string, o: KubeObject, ns: KubeObject, ref: WaypointRef, what: string): Finding {
  const mode = labelsOf(ns)[dataplaneModeLabel];
  const state = mode === undefined ? `has no ${dataplaneModeLabel} label` : `has ${dataplaneModeLabel}=${mode}`;
  const podMode = kind === 'Pod' ? labelsOf(o)[dataplaneModeLabel] : undefined;
  const podState = podMode !== undefined ? ` and the pod has ${dataplaneModeLabel}=${podMode}` : '';
  const message = `${what} asks for waypoint ${formatWaypoint(ref)} but namespace ${nameOf(ns)} ${state}${podState}: ztunnel does not capture its pods, so the waypoint is not in their traffic's path`;
  const fix =
    podMode !== undefined
      ? `enroll the pod: ${kubectlLabel('pod', o, `${dataplaneModeLabel}=ambient`)} (set it in the pod template to keep it)`
      : `enroll the namespace: ${kubectlLabel('namespace', ns, `${dataplaneModeLabel}=ambient`)}`;
  return finding(codes.waypointUserNotInMesh, refOf(kind, o), message, fix);
}
