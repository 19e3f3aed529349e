// Which Gateways are waypoints, and which waypoint (if any) an object is bound to through the
// istio.io/use-waypoint labels.
import { ports, type GatewayAddress, type WaypointFor } from '@ambient/api';
import type { KubeObject, Manifest, MeshInputs, MeshOptions } from './inputs.ts';
import { keyOf, labelsOf, nameOf, namespaceOf } from './kube-object.ts';
import { useWaypointLabel, useWaypointNamespaceLabel, waypointForLabel, waypointGatewayClass } from '@ambient/api';

export interface Waypoint {
  namespace: string;
  name: string;
  gateway: KubeObject;
  waypointFor: WaypointFor;
  /** Unset until the waypoint Service has a ClusterIP: nothing can be sent to it before. */
  address?: GatewayAddress;
  identity: string;
  /** Why the Gateway is not a usable waypoint (no HBONE 15008 listener, bad waypoint-for). */
  problem?: string;
}

const waypointForValues: readonly WaypointFor[] = ['service', 'workload', 'all', 'none'];

export function waypointIdentity(opts: MeshOptions, namespace: string, name: string): string {
  return `spiffe://${opts.trustDomain}/ns/${namespace}/sa/${name}`;
}

/** Every Gateway of class istio-waypoint, by "<namespace>/<name>". */
export function findWaypoints(inputs: MeshInputs, opts: MeshOptions): Map<string, Waypoint> {
  const clusterIps = new Map<string, string>();
  for (const svc of inputs.services) {
    const ip = svc.spec?.clusterIP;
    if (typeof ip === 'string' && ip !== '' && ip !== 'None') clusterIps.set(keyOf(svc), ip);
  }
  const out = new Map<string, Waypoint>();
  for (const gw of inputs.gateways) {
    if (gw.spec?.gatewayClassName !== waypointGatewayClass) continue;
    const namespace = namespaceOf(gw);
    const name = nameOf(gw);
    const identity = waypointIdentity(opts, namespace, name);
    const label = labelsOf(gw)[waypointForLabel] ?? 'service';
    const wp: Waypoint = { namespace, name, gateway: gw, identity, waypointFor: 'none' };
    const listeners: Manifest[] = Array.isArray(gw.spec?.listeners) ? gw.spec.listeners : [];
    if (!waypointForValues.includes(label as WaypointFor)) {
      wp.problem = `invalid ${waypointForLabel} label "${label}": expected service, workload, all or none`;
    } else if (!listeners.some((l) => l?.port === ports.hbone && l?.protocol === 'HBONE')) {
      wp.problem = `gateway ${namespace}/${name} has no listener with port ${ports.hbone} and protocol HBONE`;
    } else {
      wp.waypointFor = label as WaypointFor;
    }
    const ip = clusterIps.get(`${namespace}/${name}`);
    if (ip !== undefined && wp.problem === undefined) {
      wp.address = { address: ip, hostname: `${namespace}/${name}.${namespace}.svc.${opts.clusterDomain}`, hboneMtlsPort: ports.hbone, identity };
    }
    out.set(`${namespace}/${name}`, wp);
  }
  return out;
}

export type BindingKind = 'workload' | 'service';

export interface WaypointBinding {
  /** The waypoint in force; unset when none is requested or it cannot be used. */
  waypoint?: Waypoint;
  /** The waypoint the labels ask for ("<ns>/<name>"), if any. */
  requested?: string;
  /**
   * Why a requested waypoint is not used (Istio's reasons). `failClosed`: the traffic was meant
   * for that waypoint, so it is refused rather than sent around it (a workload under a namespace
   * label whose waypoint only takes service traffic was never meant for it).
   */
  error?: { reason: 'NoSuchWaypoint' | 'InvalidWaypoint' | 'WaypointNotReady'; message: string; failClosed: boolean };
}

/** What ztunnel is told when traffic must pass a waypoint that cannot be used. */
export function waypointUnavailable(binding: WaypointBinding): string | undefined {
  const e = binding.error;
  return e?.failClosed ? `waypoint ${binding.requested}, which is unavailable (${e.reason}: ${e.message})` : undefined;
}

/**
 * Resolves istio.io/use-waypoint: the most specific object that carries the label decides (the
 * object itself, then its namespace); "none" there disables an inherited waypoint.
 * istio.io/use-waypoint-namespace on the same object names the waypoint's namespace.
 */
export function bindWaypoint(object: KubeObject, namespace: KubeObject | undefined, kind: BindingKind, waypoints: Map<string, Waypoint>): WaypointBinding {
  const own = labelsOf(object);
  const nsLabels = labelsOf(namespace);
  const from = own[useWaypointLabel] !== undefined ? own : nsLabels[useWaypointLabel] !== undefined ? nsLabels : undefined;
  if (from === undefined) return {};
  const name = from[useWaypointLabel]!;
  if (name === 'none' || name === '') return {};
  const wpNamespace = from[useWaypointNamespaceLabel] || namespaceOf(object);
  const requested = `${wpNamespace}/${name}`;
  const wp = waypoints.get(requested);
  // Services use a waypoint by default (waypoint-for: service); a workload only when it names
  // one itself, or the waypoint takes workload traffic.
  const meant = kind === 'service' || from === own || wp?.waypointFor === 'workload' || wp?.waypointFor === 'all';
  if (wp === undefined) return { requested, error: { reason: 'NoSuchWaypoint', message: `waypoint ${requested} not found`, failClosed: meant } };
  if (wp.problem !== undefined) return { requested, error: { reason: 'InvalidWaypoint', message: wp.problem, failClosed: meant } };
  if (!(wp.waypointFor === kind || wp.waypointFor === 'all')) {
    return {
      requested,
      error: { reason: 'InvalidWaypoint', message: `waypoint ${requested} is for ${wp.waypointFor} traffic, not ${kind} traffic`, failClosed: false },
    };
  }
  if (wp.address === undefined)
    return {
      requested,
      error: { reason: 'WaypointNotReady', message: `waypoint ${requested} has no address yet (its Service has no ClusterIP)`, failClosed: true },
    };
  return { requested, waypoint: wp };
}
