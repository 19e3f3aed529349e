// Wire Address → domain Workload / Service: every field checked, every proto3 default filled in,
// every IP canonical, so lookups and decisions never have to second-guess the data.
import { parseSpiffeId, ports } from '../../index.ts';
import type { Address, Endpoint, GatewayAddress, Port, PortList, Service, Workload } from '../../index.ts';
import { FieldError, asObject, bool, ip, ips, list, oneOf, optionalObject, port, requiredStr, str, strings } from './wire-fields.ts';
import type { Wire } from './wire-fields.ts';

/** The domain Address named `name` (a workload uid, or "<namespace>/<hostname>" for a service). */
export function toAddress(name: string, payload: unknown): Address {
  const o = asObject(payload, 'address');
  const workload = optionalObject(o, 'workload', 'address');
  const service = optionalObject(o, 'service', 'address');
  if ((workload === undefined) === (service === undefined)) throw new FieldError('address must set exactly one of workload and service');
  if (workload !== undefined) {
    const w = toWorkload(workload);
    if (w.uid !== name) throw new FieldError(`workload.uid ${JSON.stringify(w.uid)} does not match the resource name`);
    return { workload: w };
  }
  const s = toService(service!);
  const key = `${s.namespace}/${s.hostname}`;
  if (key !== name) throw new FieldError(`service key ${JSON.stringify(key)} does not match the resource name`);
  return { service: s };
}

export function toWorkload(o: Wire): Workload {
  const p = 'workload';
  const tunnelProtocol = oneOf(o, 'tunnelProtocol', ['NONE', 'HBONE'] as const, p);
  const identity = str(o, 'identity', p);
  // An enrolled workload is addressed by its identity; a plaintext one may not have a usable one.
  if ((identity !== '' || tunnelProtocol === 'HBONE') && parseSpiffeId(identity) === undefined) {
    throw new FieldError(`${p}.identity ${JSON.stringify(identity)} is not a workload spiffe id`);
  }
  const services: Record<string, PortList> = {};
  const rawServices = optionalObject(o, 'services', p) ?? {};
  for (const [key, value] of Object.entries(rawServices)) {
    const sp = `${p}.services[${JSON.stringify(key)}]`;
    services[key] = { ports: list(asObject(value, sp), 'ports', sp).map((v, i) => toPort(v, `${sp}.ports[${i}]`)) };
  }
  const workload: Workload = {
    uid: requiredStr(o, 'uid', p),
    name: requiredStr(o, 'name', p),
    namespace: requiredStr(o, 'namespace', p),
    node: str(o, 'node', p),
    addresses: ips(o, 'addresses', p),
    serviceAccount: str(o, 'serviceAccount', p),
    trustDomain: str(o, 'trustDomain', p),
    identity,
    tunnelProtocol,
    status: oneOf(o, 'status', ['HEALTHY', 'UNHEALTHY'] as const, p),
    canonicalName: str(o, 'canonicalName', p),
    canonicalRevision: str(o, 'canonicalRevision', p),
    workloadName: str(o, 'workloadName', p),
    workloadType: str(o, 'workloadType', p),
    services,
    authorizationPolicies: strings(o, 'authorizationPolicies', p),
    hostNetwork: bool(o, 'hostNetwork', p),
    nativeTunnel: bool(o, 'nativeTunnel', p),
  };
  const waypoint = optionalObject(o, 'waypoint', p);
  if (waypoint !== undefined) workload.waypoint = toGatewayAddress(waypoint, `${p}.waypoint`);
  const unavailable = str(o, 'waypointUnavailable', p);
  if (unavailable !== '') workload.waypointUnavailable = unavailable;
  return workload;
}

export function toService(o: Wire): Service {
  const p = 'service';
  const service: Service = {
    name: requiredStr(o, 'name', p),
    namespace: requiredStr(o, 'namespace', p),
    hostname: requiredStr(o, 'hostname', p),
    addresses: ips(o, 'addresses', p),
    ports: list(o, 'ports', p).map((v, i) => toPort(v, `${p}.ports[${i}]`)),
    endpoints: list(o, 'endpoints', p).map((v, i) => toEndpoint(v, `${p}.endpoints[${i}]`)),
  };
  const waypoint = optionalObject(o, 'waypoint', p);
  if (waypoint !== undefined) service.waypoint = toGatewayAddress(waypoint, `${p}.waypoint`);
  const unavailable = str(o, 'waypointUnavailable', p);
  if (unavailable !== '') service.waypointUnavailable = unavailable;
  return service;
}

export function toPort(v: unknown, path: string): Port {
  const o = asObject(v, path);
  const servicePort = port(o.servicePort, `${path}.servicePort`);
  return {
    servicePort,
    // 0 means "same as the service port": resolve it once here.
    targetPort: port(o.targetPort, `${path}.targetPort`, true) || servicePort,
    name: str(o, 'name', path),
    appProtocol: str(o, 'appProtocol', path),
  };
}

function toEndpoint(v: unknown, path: string): Endpoint {
  const o = asObject(v, path);
  const ports: Record<string, number> = {};
  for (const [key, value] of Object.entries(optionalObject(o, 'ports', path) ?? {})) {
    const servicePort = port(/^\d+$/.test(key) ? Number(key) : key, `${path}.ports key`);
    ports[String(servicePort)] = port(value, `${path}.ports[${key}]`);
  }
  const endpoint: Endpoint = { workloadUid: requiredStr(o, 'workloadUid', path), ports, ready: bool(o, 'ready', path) };
  const address = str(o, 'address', path);
  if (address !== '') endpoint.address = ip(address, `${path}.address`);
  return endpoint;
}

export function toGatewayAddress(o: Wire, path: string): GatewayAddress {
  const identity = requiredStr(o, 'identity', path);
  if (parseSpiffeId(identity) === undefined) throw new FieldError(`${path}.identity ${JSON.stringify(identity)} is not a workload spiffe id`);
  return {
    address: ip(o.address, `${path}.address`),
    hostname: str(o, 'hostname', path),
    // A waypoint without a port is meaningless; Istio's HBONE port is the only sensible reading.
    hboneMtlsPort: port(o.hboneMtlsPort, `${path}.hboneMtlsPort`, true) || ports.hbone,
    identity,
  };
}
