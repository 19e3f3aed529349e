// AMB0002 WaypointNotFound. Why: istio.io/use-waypoint names a waypoint by name only (in the
// object's namespace unless istio.io/use-waypoint-namespace says otherwise); a typo, a waypoint
// in another namespace or a Gateway of the wrong class leaves the traffic without the waypoint
// it asks for, and nothing but a status condition says so (Istio's NoSuchWaypoint).
import { type ClusterIndex, keyOf } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import type { Finding, KubeObject } from './finding.ts';
import { compareStrings, listed, nameOf, namespaceOf, refOf } from './kube-fields.ts';
import { kubectlLabel, waypointApply } from './kubectl.ts';
import { useWaypointLabel, useWaypointNamespaceLabel, waypointGatewayClass } from '@ambient/api';
import { formatWaypoint, isWaypoint, ownWaypointRequest, type WaypointRef, waypointGateway, waypointsIn } from './waypoint-binding.ts';

type Labelled = { kind: 'Namespace' | 'Service' | 'Pod'; object: KubeObject; home: string };

export function waypointNotFoundRule(index: ClusterIndex): Finding[] {
  const labelled: Labelled[] = [
    ...index.objects.namespaces.map((o) => ({ kind: 'Namespace' as const, object: o, home: nameOf(o) })),
    ...index.objects.services.map((o) => ({ kind: 'Service' as const, object: o, home: namespaceOf(o) })),
    ...index.objects.pods.map((o) => ({ kind: 'Pod' as const, object: o, home: namespaceOf(o) })),
  ];
  return labelled.flatMap((l) => {
    const ref = ownWaypointRequest(l.object, l.home);
    if (ref === undefined || waypointGateway(index, ref) !== undefined) return [];
    return [finding(codes.waypointNotFound, refOf(l.kind, l.object), messageFor(index, l, ref), fixFor(index, l, ref))];
  });
}

function messageFor(index: ClusterIndex, l: Labelled, ref: WaypointRef): string {
  const asked = `${useWaypointLabel}=${ref.name}${ref.namespace === l.home ? '' : ` with ${useWaypointNamespaceLabel}=${ref.namespace}`}`;
  const gw = index.gateways.get(keyOf(ref.namespace, ref.name));
  const problem =
    gw !== undefined
      ? `Gateway ${formatWaypoint(ref)} has gatewayClassName "${gw.spec?.gatewayClassName ?? ''}", not ${waypointGatewayClass}, so it is not a waypoint`
      : `no waypoint ${formatWaypoint(ref)} exists${elsewhere(index, ref)}`;
  return `${l.kind.toLowerCase()} ${nameOf(l.object)} asks for waypoint ${formatWaypoint(ref)} (${asked}) but ${problem}: its traffic is refused or goes without the waypoint's policies and routes`;
}

/** The same name in other namespaces: the likely intent when the namespace label was forgotten. */
function elsewhere(index: ClusterIndex, ref: WaypointRef): string {
  const found = index.objects.gateways.filter((g) => isWaypoint(g) && nameOf(g) === ref.name).map(namespaceOf);
  return found.length > 0 ? ` (a waypoint of that name is in namespace ${listed(found.sort(compareStrings))})` : '';
}

function fixFor(index: ClusterIndex, l: Labelled, ref: WaypointRef): string {
  const kind = l.kind === 'Namespace' ? 'namespace' : l.kind === 'Service' ? 'service' : 'pod';
  const existing = waypointsIn(index, ref.namespace).map(nameOf);
  const relabel =
    existing.length > 0
      ? `, or point the label at an existing waypoint (${listed(existing)}): ${kubectlLabel(kind, l.object, `${useWaypointLabel}=${existing[0]}`)}`
      : '';
  return `create the waypoint: ${waypointApply(ref.namespace, ref.name)}${relabel}`;
}
