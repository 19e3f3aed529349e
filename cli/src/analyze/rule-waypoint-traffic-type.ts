// AMB0008 WaypointTrafficTypeMismatch. Why: a waypoint takes only the traffic its
// istio.io/waypoint-for label names: "service" (the default) for traffic addressed to a
// Service, "workload" for traffic addressed to a pod's IP, "all", or "none". A binding the
// waypoint does not take is ignored without error (Istio reports InvalidWaypoint on the bound
// object only): a Service bound to a workload waypoint, or pods bound to a service waypoint,
// keep sending their traffic around it.
import { type ClusterIndex, servicesSelecting } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import type { Finding, KubeObject } from './finding.ts';
import { compareStrings, labelsOf, listed, nameOf, namespaceOf, refOf } from './kube-fields.ts';
import { kubectlLabel } from './kubectl.ts';
import { useWaypointLabel, waypointForLabel } from '@ambient/api';
import { formatWaypoint, isWaypoint, ownWaypointRequest, requestedWaypoint, trafficTypeOf, trafficTypes, type WaypointRef } from './waypoint-binding.ts';

/** The objects whose own istio.io/use-waypoint label names one waypoint. */
interface Binders {
  namespaces: KubeObject[];
  services: KubeObject[];
  pods: KubeObject[];
}

export function waypointTrafficTypeRule(index: ClusterIndex): Finding[] {
  const binders = bindersByWaypoint(index);
  return index.objects.gateways.filter(isWaypoint).flatMap((gw) => {
    const b = binders.get(formatWaypoint({ namespace: namespaceOf(gw), name: nameOf(gw) })) ?? { namespaces: [], services: [], pods: [] };
    const problem = mismatch(index, gw, b);
    return problem ? [finding(codes.waypointTrafficTypeMismatch, refOf('Gateway', gw), problem.message, problem.fix)] : [];
  });
}

/** One pass over the labelled objects, grouped by the waypoint ("<ns>/<name>") each one names. */
function bindersByWaypoint(index: ClusterIndex): Map<string, Binders> {
  const out = new Map<string, Binders>();
  const add = (ref: WaypointRef | undefined, kind: keyof Binders, o: KubeObject) => {
    if (ref === undefined) return;
    const key = formatWaypoint(ref);
    const b = out.get(key) ?? { namespaces: [], services: [], pods: [] };
    b[kind].push(o);
    out.set(key, b);
  };
  // Only an object's own label binds it here: what it inherits from its namespace is the namespace's binding.
  const own = (o: KubeObject) => {
    const r = requestedWaypoint(o, index.namespaces.get(namespaceOf(o)));
    return r?.from === 'own' ? r.waypoint : undefined;
  };
  for (const n of index.objects.namespaces) add(ownWaypointRequest(n, nameOf(n)), 'namespaces', n);
  for (const s of index.objects.services) add(own(s), 'services', s);
  for (const p of index.objects.pods) add(own(p), 'pods', p);
  return out;
}

function mismatch(index: ClusterIndex, gw: KubeObject, b: Binders): { message: string; fix: string } | undefined {
  const type = trafficTypeOf(gw);
  const label = (value: string) => kubectlLabel('gateway', gw, `${waypointForLabel}=${value}`);
  const boundFrom = describeBinders(gw, b);
  if (!(trafficTypes as readonly string[]).includes(type)) {
    return {
      message: `${waypointForLabel}=${type} is not one of ${trafficTypes.join(', ')}, so the waypoint is invalid and takes no traffic${boundFrom ? ` (it is bound from ${boundFrom})` : ''}`,
      fix: label('service'),
    };
  }
  if (type === 'workload' && b.services.length > 0) {
    return {
      message: `the waypoint takes only workload traffic (${waypointForLabel}=workload) but ${describe(gw, 'service', b.services)} ${verb(b.services)} bound to it with ${useWaypointLabel}: traffic addressed to ${b.services.length > 1 ? 'those services' : 'that service'} skips the waypoint`,
      fix: `${label('all')} (or remove the services' label: ${kubectlLabel('service', b.services[0]!, `${useWaypointLabel}-`)})`,
    };
  }
  if (type === 'service' && b.services.length === 0 && b.namespaces.length === 0 && b.pods.length > 0) {
    const services = [...new Set(b.pods.flatMap((p) => servicesSelecting(index, p)))].sort((x, y) => compareStrings(nameOf(x), nameOf(y)));
    const instead = services.length > 0 ? `, or bind their Service instead: ${kubectlLabel('service', services[0]!, `${useWaypointLabel}=${nameOf(gw)}`)}` : '';
    return {
      message: `the waypoint takes only service traffic (${waypointForLabel}=${labelValue(gw)}) but is bound only from ${describe(gw, 'pod', b.pods)}: traffic addressed to ${b.pods.length > 1 ? 'those pods' : 'that pod'} skips the waypoint`,
      fix: `${label('workload')} (or all, if Services will use it too)${instead}`,
    };
  }
  if (type === 'none' && boundFrom) {
    return {
      message: `the waypoint takes no traffic (${waypointForLabel}=none) but is bound from ${boundFrom}: all of their traffic skips it`,
      fix: label(b.pods.length > 0 ? 'all' : 'service'),
    };
  }
  return undefined;
}

/** The label as written, or "service, the default" when it is absent. */
function labelValue(gw: KubeObject): string {
  return labelsOf(gw)[waypointForLabel] ?? 'service, the default';
}

function describeBinders(gw: KubeObject, b: Binders): string {
  return [
    b.namespaces.length > 0 ? describe(gw, 'namespace', b.namespaces) : '',
    b.services.length > 0 ? describe(gw, 'service', b.services) : '',
    b.pods.length > 0 ? describe(gw, 'pod', b.pods) : '',
  ]
    .filter((s) => s !== '')
    .join('; ');
}

/** "services a, b" with objects of other namespaces than the waypoint's named "<ns>/<name>". */
function describe(gw: KubeObject, kind: string, objects: KubeObject[]): string {
  const names = objects
    .map((o) => (kind === 'namespace' || namespaceOf(o) === namespaceOf(gw) ? nameOf(o) : `${namespaceOf(o)}/${nameOf(o)}`))
    .sort(compareStrings);
  return `${kind}${names.length > 1 ? 's' : ''} ${listed(names)}`;
}

function verb(objects: KubeObject[]): string {
  return objects.length > 1 ? 'are' : 'is';
}
