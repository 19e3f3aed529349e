// Which waypoint a Namespace, Service or Pod asks for through istio.io/use-waypoint, and whether
// that waypoint exists and takes the kind of traffic the object receives (Istio's rules).
import { type ClusterIndex, keyOf } from './cluster-index.ts';
import type { KubeObject } from './finding.ts';
import { compareStrings, labelsOf, nameOf, namespaceOf } from './kube-fields.ts';
import { gatewayNameLabel, useWaypointLabel, useWaypointNamespaceLabel, waypointForLabel, waypointGatewayClass } from '@ambient/api';
import { trustDomain } from '../install-defaults.ts';

export interface WaypointRef {
  namespace: string;
  name: string;
}

/** Traffic addressed to a Service (its VIP or hostname), or to a pod's own IP. */
export type TrafficKind = 'service' | 'workload';

export interface WaypointRequest {
  waypoint: WaypointRef;
  /** Whether the object's own label asked, or its namespace's. */
  from: 'own' | 'namespace';
}

export const trafficTypes = ['service', 'workload', 'all', 'none'] as const;

/**
 * The waypoint this object's own labels ask for. "none" (and the older "#none") asks for none;
 * istio.io/use-waypoint-namespace on the same object names the waypoint's namespace, else it is
 * `home` (the object's namespace; for a Namespace, itself).
 */
export function ownWaypointRequest(o: KubeObject | undefined, home: string): WaypointRef | undefined {
  const labels = labelsOf(o);
  const name = labels[useWaypointLabel];
  if (name === undefined || name === '' || name === 'none' || name === '#none') return undefined;
  return { namespace: labels[useWaypointNamespaceLabel] || home, name };
}

/** The most specific object carrying the label decides: the object itself, then its namespace. */
export function requestedWaypoint(o: KubeObject, namespace: KubeObject | undefined): WaypointRequest | undefined {
  // A waypoint's own pods and Service never pass a waypoint, whatever their namespace asks.
  if (labelsOf(o)[gatewayNameLabel] !== undefined) return undefined;
  const home = namespaceOf(o);
  if (labelsOf(o)[useWaypointLabel] !== undefined) {
    const own = ownWaypointRequest(o, home);
    return own && { waypoint: own, from: 'own' };
  }
  const inherited = ownWaypointRequest(namespace, home);
  return inherited && { waypoint: inherited, from: 'namespace' };
}

/** The Gateway of class istio-waypoint that `ref` names, if there is one. */
export function waypointGateway(index: ClusterIndex, ref: WaypointRef): KubeObject | undefined {
  const gw = index.gateways.get(keyOf(ref.namespace, ref.name));
  return gw?.spec?.gatewayClassName === waypointGatewayClass ? gw : undefined;
}

export function isWaypoint(gw: KubeObject): boolean {
  return gw.spec?.gatewayClassName === waypointGatewayClass;
}

/** istio.io/waypoint-for, defaulting to "service" as Istio does (may be an invalid value). */
export function trafficTypeOf(gw: KubeObject): string {
  return labelsOf(gw)[waypointForLabel] ?? 'service';
}

export function takesTraffic(trafficType: string, kind: TrafficKind): boolean {
  return trafficType === kind || trafficType === 'all';
}

/**
 * The waypoint that traffic of `kind` to `o` actually passes: requested, existing, and taking
 * that kind of traffic. Anything short of that is another rule's finding, not a path.
 */
export function boundWaypoint(index: ClusterIndex, o: KubeObject, kind: TrafficKind): WaypointRef | undefined {
  const request = requestedWaypoint(o, index.namespaces.get(namespaceOf(o)));
  if (request === undefined) return undefined;
  const gw = waypointGateway(index, request.waypoint);
  return gw !== undefined && takesTraffic(trafficTypeOf(gw), kind) ? request.waypoint : undefined;
}

/** Istio names a waypoint's ServiceAccount after its Gateway; the principal follows from it. */
export function waypointPrincipal(ref: WaypointRef): string {
  return `${trustDomain}/ns/${ref.namespace}/sa/${ref.name}`;
}

export function formatWaypoint(ref: WaypointRef): string {
  return keyOf(ref.namespace, ref.name);
}

export function sameWaypoint(a: WaypointRef, b: WaypointRef): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

/** Waypoint Gateways of a namespace, by name: the concrete names fixes can suggest. */
export function waypointsIn(index: ClusterIndex, namespace: string): KubeObject[] {
  return index.objects.gateways.filter((g) => isWaypoint(g) && namespaceOf(g) === namespace).sort((a, b) => compareStrings(nameOf(a), nameOf(b)));
}
