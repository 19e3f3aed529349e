// The outbound routing decision, as istio/ztunnel's build_request: given who is calling and the
// original destination recovered from the captured socket, decide where to connect, over which
// protocol, and whose identity the peer must prove. Pure: the caller does the I/O.
//
// Order of decisions (each one explained where it is taken):
//   1. a service VIP → the service's waypoint if it has one, else a healthy endpoint;
//   2. a known workload IP → the workload's waypoint if it has one, else the workload itself;
//   3. anything else is outside the mesh → plain TCP passthrough.
// A destination reached directly goes over HBONE to <pod>:15008 when it is enrolled, plaintext
// otherwise; plaintext is never sent to an address a mesh (HBONE) workload holds.
import { ports, ztunnelReservedPorts, type GatewayAddress, type Service, type Workload } from '@ambient/api';
import { formatSocketAddress, type SocketAddress } from '@ambient/hbone';
import { normalizeIp } from '@ambient/api/proxy-runtime';
import type { ProxyState } from '@ambient/api/proxy-runtime';

export interface OutboundConnection {
  source: Workload;
  originalDst: { ip: string; port: number };
}

export interface Request {
  protocol: 'HBONE' | 'TCP';
  /** Where to connect: <pod>:15008, <waypoint>:15008, or the plain target. */
  actualDestination: SocketAddress;
  /** The HBONE CONNECT :authority: the pod ip:port, or the ORIGINAL VIP:port on a waypoint hop. */
  hboneTarget?: SocketAddress;
  /** SPIFFE IDs the peer's certificate must carry one of (empty for TCP). */
  expectedIdentities: string[];
  /** The identity of the workload the traffic finally reaches, when known here. */
  finalIdentity?: string;
  /** The workload connected to (the waypoint's pod on a waypoint hop), when known. */
  destinationWorkload?: Workload;
  /** The service the client addressed, when it addressed a VIP. */
  destinationService?: Service;
  viaWaypoint: boolean;
}

export interface Refusal {
  refused: true;
  reason: string;
}

export interface EndpointCandidate {
  workload: Workload;
  ip: string;
  port: number;
}

/** Chooses one of the healthy candidates (never called with an empty list); returns its index. */
export type Picker = (candidates: readonly EndpointCandidate[]) => number;

export const randomPick: Picker = (candidates) => Math.floor(Math.random() * candidates.length);

export function buildRequest(state: ProxyState, conn: OutboundConnection, pick: Picker = randomPick): Request | Refusal {
  const ip = normalizeIp(conn.originalDst.ip);
  const port = conn.originalDst.port;
  if (ip === undefined) return refuse(`original destination ${JSON.stringify(conn.originalDst.ip)} is not an ip address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse(`original destination port ${port} is not a port number`);
  const target: SocketAddress = { ip, port };

  const service = state.serviceByVip(ip);
  if (service !== undefined) {
    const servicePort = service.ports?.find((p) => p.servicePort === port);
    // Nothing listens on a VIP itself: a port the service does not expose leads nowhere.
    if (servicePort === undefined) return refuse(`service ${serviceName(service)} has no port ${port}`);
    // The user asked for a waypoint that cannot be used: its L7 policy must not be skipped.
    if (service.waypointUnavailable !== undefined) return refuse(`service ${serviceName(service)} must go through ${service.waypointUnavailable}`);
    // Service-addressed traffic goes to the service's waypoint, unless the caller is that
    // waypoint forwarding it on (which would loop).
    if (service.waypoint !== undefined && !isFromWaypoint(conn.source, service.waypoint)) {
      return viaWaypoint(state, service.waypoint, target, pick, { destinationService: service });
    }
    const candidates = healthyEndpoints(state, service, port, servicePort.targetPort || port);
    if (candidates.length === 0) return refuse(`no healthy endpoints for service ${serviceName(service)}`);
    const chosen = candidates[checkedIndex(pick(candidates), candidates.length)]!;
    // A workload waypoint applies only to traffic addressed to the workload, as in Istio: the
    // service's (absent) waypoint already decided for VIP traffic.
    return direct(state, chosen.workload, chosen.ip, chosen.port, service);
  }

  const workload = state.workloadByIp(ip);
  if (workload === undefined) return passthrough(state, ip, target);
  if (workload.waypointUnavailable !== undefined)
    return refuse(`workload ${workload.namespace}/${workload.name} must go through ${workload.waypointUnavailable}`);
  if (workload.waypoint !== undefined && !isFromWaypoint(conn.source, workload.waypoint)) {
    return viaWaypoint(state, workload.waypoint, target, pick, { finalIdentity: workload.identity });
  }
  return direct(state, workload, ip, port);
}

export function isRefusal(r: Request | Refusal): r is Refusal {
  return 'refused' in r;
}

function direct(state: ProxyState, workload: Workload, ip: string, port: number, service?: Service): Request | Refusal {
  // In a mesh workload that port is ztunnel's own listener: the destination would refuse it.
  if (ztunnelReservedPorts.has(port) && workload.tunnelProtocol === 'HBONE')
    return refuse(`port ${port} of ${workload.namespace}/${workload.name} is ztunnel's own`);
  if (workload.tunnelProtocol !== 'HBONE') {
    const request = passthrough(state, ip, { ip, port });
    if (isRefusal(request)) return request;
    return withService({ ...request, destinationWorkload: workload }, service);
  }
  return withService(
    {
      protocol: 'HBONE',
      actualDestination: { ip, port: ports.hbone },
      hboneTarget: { ip, port },
      expectedIdentities: [workload.identity],
      finalIdentity: workload.identity,
      destinationWorkload: workload,
      viaWaypoint: false,
    },
    service,
  );
}

function passthrough(state: ProxyState, ip: string, target: SocketAddress): Request | Refusal {
  // The last line of defence for "never plaintext to a mesh workload": whatever path led here,
  // an address an enrolled workload holds is not sent in the clear.
  const owner = state.workloadByIp(ip);
  if (owner !== undefined && owner.tunnelProtocol === 'HBONE') {
    return refuse(`refusing plaintext to ${formatSocketAddress(target)}: it belongs to mesh workload ${owner.namespace}/${owner.name}`);
  }
  return { protocol: 'TCP', actualDestination: target, expectedIdentities: [], viaWaypoint: false };
}

function viaWaypoint(
  state: ProxyState,
  gateway: GatewayAddress,
  target: SocketAddress,
  pick: Picker,
  extra: { destinationService?: Service; finalIdentity?: string },
): Request | Refusal {
  const hop = resolveWaypoint(state, gateway, pick);
  if ('refused' in hop) return hop;
  const request: Request = {
    protocol: 'HBONE',
    actualDestination: { ip: hop.ip, port: gateway.hboneMtlsPort || ports.hbone },
    // The waypoint routes on what the client asked for: the original VIP:port (or pod ip:port).
    hboneTarget: target,
    expectedIdentities: [gateway.identity],
    viaWaypoint: true,
  };
  if (hop.workload !== undefined) request.destinationWorkload = hop.workload;
  if (extra.finalIdentity !== undefined) request.finalIdentity = extra.finalIdentity;
  return withService(request, extra.destinationService);
}

/**
 * The waypoint's address is its Service's VIP: connect to one of its healthy pods, as Istio does,
 * so the hop does not depend on VIP translation in the source pod. A waypoint whose Service is
 * not (yet) known is reached at the address itself; the identity check still applies.
 */
function resolveWaypoint(state: ProxyState, gateway: GatewayAddress, pick: Picker): { ip: string; workload?: Workload } | Refusal {
  const service = state.serviceByVip(gateway.address) ?? (gateway.hostname ? state.serviceByHostname(gateway.hostname) : undefined);
  if (service === undefined) {
    const workload = state.workloadByIp(gateway.address);
    return workload === undefined ? { ip: gateway.address } : { ip: gateway.address, workload };
  }
  const port = gateway.hboneMtlsPort || ports.hbone;
  const candidates = healthyEndpoints(state, service, port, port);
  if (candidates.length === 0) return refuse(`no healthy endpoints for waypoint ${serviceName(service)}`);
  const chosen = candidates[checkedIndex(pick(candidates), candidates.length)]!;
  return { ip: chosen.ip, workload: chosen.workload };
}

/**
 * Ready endpoints whose workload is known and healthy. An endpoint whose workload has not been
 * received cannot be routed safely (is it enrolled? what identity?), so it is skipped, as Istio does.
 */
function healthyEndpoints(state: ProxyState, service: Service, servicePort: number, defaultTarget: number): EndpointCandidate[] {
  const key = serviceName(service);
  const out: EndpointCandidate[] = [];
  for (const endpoint of service.endpoints ?? []) {
    if (endpoint.ready !== true) continue;
    const workload = state.workloadByUid(endpoint.workloadUid);
    if (workload === undefined || workload.status === 'UNHEALTHY') continue;
    const ip = endpoint.address ?? workload.addresses?.[0];
    if (ip === undefined) continue;
    // Most specific first: the endpoint's own mapping, then the workload's view of the service.
    const port =
      endpoint.ports?.[String(servicePort)] || workload.services?.[key]?.ports?.find((p) => p.servicePort === servicePort)?.targetPort || defaultTarget;
    out.push({ workload, ip, port });
  }
  return out;
}

function isFromWaypoint(source: Workload, gateway: GatewayAddress): boolean {
  return (
    source.identity === gateway.identity ||
    (source.addresses ?? []).includes(gateway.address) ||
    (gateway.hostname !== '' && source.services?.[gateway.hostname] !== undefined)
  );
}

function withService(request: Request, service: Service | undefined): Request {
  if (service !== undefined) request.destinationService = service;
  return request;
}

function checkedIndex(index: number, length: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= length) throw new RangeError(`endpoint picker returned ${index} for ${length} candidates`);
  return index;
}

function serviceName(service: Service): string {
  return `${service.namespace}/${service.hostname}`;
}

function refuse(reason: string): Refusal {
  return { refused: true, reason };
}
