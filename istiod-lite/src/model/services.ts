// Services → mesh Services: hostname, VIPs, ports, endpoints from the pods they select, and the
// waypoint bound through labels (with the istio.io/WaypointBound condition the user sees).
import type { Endpoint, Service } from '@ambient/api';
import { matchesLabelMap } from '@ambient/api/kube';
import { condition } from './conditions.ts';
import type { KubeObject, MeshOptions } from './inputs.ts';
import { generationOf, labelsOf, nameOf, namespaceOf } from './kube-object.ts';
import { gatewayNameLabel } from '@ambient/api';
import type { ObjectStatus } from './object-status.ts';
import { resolvePortsForPod, servicePorts } from './service-ports.ts';
import { bindWaypoint, type Waypoint, type WaypointBinding, waypointUnavailable } from './waypoints.ts';
import { isHealthy, podAddress } from './workloads.ts';

export const waypointBoundCondition = 'istio.io/WaypointBound';

export function serviceHostname(svc: KubeObject, opts: MeshOptions): string {
  return `${nameOf(svc)}.${namespaceOf(svc)}.svc.${opts.clusterDomain}`;
}

export function serviceKey(svc: KubeObject, opts: MeshOptions): string {
  return `${namespaceOf(svc)}/${serviceHostname(svc, opts)}`;
}

/** The pods a Service selects (a Service without a selector selects none: its endpoints are managed elsewhere). */
export function selectedPods(svc: KubeObject, podsInNamespace: readonly KubeObject[]): KubeObject[] {
  const selector = svc.spec?.selector;
  if (selector === undefined || selector === null || Object.keys(selector).length === 0) return [];
  return podsInNamespace.filter((p) => podAddress(p) !== undefined && matchesLabelMap(selector, labelsOf(p)));
}

export function serviceBinding(svc: KubeObject, namespace: KubeObject | undefined, waypoints: Map<string, Waypoint>): WaypointBinding {
  if (labelsOf(svc)[gatewayNameLabel] !== undefined) return {};
  return bindWaypoint(svc, namespace, 'service', waypoints);
}

export function buildService(svc: KubeObject, pods: readonly KubeObject[], binding: WaypointBinding, opts: MeshOptions): Service {
  const ip = svc.spec?.clusterIP;
  const service: Service = {
    name: nameOf(svc),
    namespace: namespaceOf(svc),
    hostname: serviceHostname(svc, opts),
    addresses: typeof ip === 'string' && ip !== '' && ip !== 'None' ? [ip] : [],
    ports: servicePorts(svc),
    endpoints: pods.map((pod): Endpoint => {
      const ports: Record<string, number> = {};
      for (const p of resolvePortsForPod(svc, pod)) ports[String(p.servicePort)] = p.targetPort || p.servicePort;
      return { workloadUid: pod.metadata!.uid!, address: podAddress(pod)!, ports, ready: isHealthy(pod) };
    }),
  };
  if (binding.waypoint?.address) service.waypoint = binding.waypoint.address;
  const unavailable = waypointUnavailable(binding);
  if (unavailable !== undefined) service.waypointUnavailable = unavailable;
  return service;
}

/** The istio.io/WaypointBound condition, only for services that ask for a waypoint (as Istio does). */
export function serviceStatus(svc: KubeObject, binding: WaypointBinding): ObjectStatus | undefined {
  if (binding.requested === undefined) return undefined;
  const c = binding.waypoint
    ? condition(waypointBoundCondition, true, 'WaypointAccepted', `bound to ${binding.requested}`, generationOf(svc))
    : condition(waypointBoundCondition, false, binding.error!.reason, binding.error!.message, generationOf(svc));
  return { apiVersion: 'v1', kind: 'Service', namespace: namespaceOf(svc), name: nameOf(svc), conditions: [c] };
}
