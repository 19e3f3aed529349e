// Pods → Workloads: identity, enrollment (HBONE or not), health, waypoint, telemetry names.
// A pod with an injected sidecar speaks HBONE itself (native tunnel), enrolled or not.
import type { Port, Workload } from '@ambient/api';
import type { KubeObject, Manifest, MeshOptions } from './inputs.ts';
import { labelsOf, nameOf, namespaceOf } from './kube-object.ts';
import { dataplaneModeLabel, gatewayNameLabel, sidecarStatusAnnotation } from '@ambient/api';
import { bindWaypoint, type Waypoint, waypointUnavailable } from './waypoints.ts';

export interface WorkloadContext {
  opts: MeshOptions;
  namespaces: Map<string, KubeObject>;
  waypoints: Map<string, Waypoint>;
  /** "<namespace>/<hostname>" → the Service objects selecting the pod, with resolved ports. */
  servicesOf(pod: KubeObject): Map<string, Port[]>;
  /** Names of the WORKLOAD_SELECTOR authorizations that apply to the pod. */
  policiesOf(pod: KubeObject): string[];
}

export function isTerminal(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Pods without an address cannot be reached; terminal pods are gone. Both are left out. */
export function podAddress(pod: KubeObject): string | undefined {
  if (isTerminal(pod)) return undefined;
  const ip = pod.status?.podIP;
  return typeof ip === 'string' && ip !== '' ? ip : undefined;
}

export function isHealthy(pod: KubeObject): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.status?.phase !== 'Running') return false;
  const ready = (pod.status?.conditions ?? []).find((c: Manifest) => c?.type === 'Ready');
  return ready === undefined || ready.status !== 'False';
}

/** HBONE when the pod or its namespace asks for ambient, unless the pod opts out with "none". */
export function isEnrolled(pod: KubeObject, namespace: KubeObject | undefined): boolean {
  if (pod.spec?.hostNetwork === true) return false;
  const podMode = labelsOf(pod)[dataplaneModeLabel];
  if (podMode === 'ambient') return true;
  if (podMode === 'none') return false;
  return labelsOf(namespace)[dataplaneModeLabel] === 'ambient';
}

/**
 * A pod whose sidecar was injected (the injector's sidecar.istio.io/status annotation): the
 * sidecar terminates and originates HBONE for it, so it is reached over HBONE even outside an
 * ambient namespace, and ztunnel must not capture it even inside one. A hostNetwork pod is never
 * injected; an annotation copied onto one means nothing.
 */
export function hasNativeTunnel(pod: KubeObject): boolean {
  return pod.spec?.hostNetwork !== true && pod.metadata?.annotations?.[sidecarStatusAnnotation] !== undefined;
}

export function canonicalName(labels: Record<string, string>, fallback: string): string {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? fallback;
}

export function canonicalRevision(labels: Record<string, string>): string {
  return labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
}

/** The controller that owns the pod: a ReplicaSet "<deploy>-<hash>" stands for its Deployment. */
export function workloadOwner(pod: KubeObject): { name: string; type: string } {
  const owner = (pod.metadata?.ownerReferences ?? []).find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (owner === undefined) return { name: nameOf(pod), type: 'pod' };
  if (owner.kind === 'ReplicaSet') {
    const hashed = /^(.+)-[a-z0-9]{5,10}$/.exec(owner.name);
    return hashed ? { name: hashed[1]!, type: 'deployment' } : { name: owner.name, type: 'replicaset' };
  }
  return { name: owner.name, type: owner.kind.toLowerCase() };
}

export function buildWorkload(pod: KubeObject, ctx: WorkloadContext): Workload | undefined {
  const address = podAddress(pod);
  const uid = pod.metadata?.uid;
  if (address === undefined || !uid) return undefined;
  const namespace = namespaceOf(pod);
  const ns = ctx.namespaces.get(namespace);
  const labels = labelsOf(pod);
  const serviceAccount = pod.spec?.serviceAccountName || 'default';
  const hostNetwork = pod.spec?.hostNetwork === true;
  const owner = workloadOwner(pod);
  const nativeTunnel = hasNativeTunnel(pod);
  const workload: Workload = {
    uid,
    name: nameOf(pod),
    namespace,
    node: pod.spec?.nodeName ?? '',
    addresses: [address],
    serviceAccount,
    trustDomain: ctx.opts.trustDomain,
    identity: `spiffe://${ctx.opts.trustDomain}/ns/${namespace}/sa/${serviceAccount}`,
    tunnelProtocol: nativeTunnel || isEnrolled(pod, ns) ? 'HBONE' : 'NONE',
    status: isHealthy(pod) ? 'HEALTHY' : 'UNHEALTHY',
    canonicalName: canonicalName(labels, owner.name),
    canonicalRevision: canonicalRevision(labels),
    workloadName: owner.name,
    workloadType: owner.type,
    services: {},
    authorizationPolicies: ctx.policiesOf(pod),
    hostNetwork,
    nativeTunnel,
  };
  for (const [key, ports] of ctx.servicesOf(pod)) workload.services![key] = { ports };
  // A waypoint's own pods must reach their destinations directly, or traffic would loop.
  if (labels[gatewayNameLabel] === undefined) {
    const binding = bindWaypoint(pod, ns, 'workload', ctx.waypoints);
    if (binding.waypoint?.address) workload.waypoint = binding.waypoint.address;
    const unavailable = waypointUnavailable(binding);
    if (unavailable !== undefined) workload.waypointUnavailable = unavailable;
  }
  return workload;
}
