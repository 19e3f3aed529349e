import assert from 'node:assert/strict';
import type { ServiceConfig } from '@ambient/api';
import { typeUrls } from '@ambient/api';
import { packAny, unpackAny } from '@ambient/api/grpc';
import { hostname, id, serviceKey, wireService, wireWorkload } from '@ambient/api/testing';
import { WaypointState } from '@ambient/waypoint';
import { servesL7 } from '../src/outbound-l7.ts';

function service(name: string, vip: string, portName = 'http'): ServiceConfig {
  return {
    name,
    namespace: 'shop',
    hostname: hostname(name),
    addresses: [vip],
    ports: [{ servicePort: 80, targetPort: 8080, name: portName, appProtocol: '' }],
    routes: [],
  };
}

/** The service with its port named (Istio's protocol selection by port name). */
function declared(wire: { service: Record<string, unknown> }, portName: string): { service: Record<string, unknown> } {
  const ports = wire.service.ports as Record<string, unknown>[];
  return { service: { ...wire.service, ports: ports.map((p) => ({ ...p, name: portName })) } };
}

/** A sidecar's state: addresses, and the config istiod-lite computes for it (services without a waypoint). */
function sidecarState(): WaypointState {
  const state = new WaypointState();
  const addresses = [
    wireWorkload({ uid: 'r1', ip: '10.244.1.5', sa: 'reviews' }),
    wireWorkload({ uid: 'plain', ip: '10.244.1.6', sa: 'legacy', hbone: false }),
    wireService({ name: 'reviews', vip: '10.96.0.10', ports: [[80, 8080]], endpoints: [{ uid: 'r1' }] }),
    declared(wireService({ name: 'db', vip: '10.96.0.12', ports: [[80, 8080]], endpoints: [{ uid: 'r1' }] }), 'tcp-db'),
    wireService({ name: 'legacy', vip: '10.96.0.13', ports: [[80, 8080]], endpoints: [{ uid: 'plain' }] }),
    wireService({ name: 'waypointed', vip: '10.96.0.14', ports: [[80, 8080]], endpoints: [{ uid: 'r1' }] }),
  ];
  const upserts = new Map<string, unknown>(addresses.map((a) => ('workload' in a ? [a.workload.uid as string, a] : [serviceKey(a.service.name as string), a])));
  assert.deepEqual(state.apply(typeUrls.address, { upserts, removals: [] }).rejected, []);
  const config = {
    namespace: 'shop',
    name: 'client-0',
    identity: id('shop', 'client'),
    waypointFor: 'service',
    // `waypointed` is left out, as istiod-lite leaves out every service that has a waypoint.
    services: [service('reviews', '10.96.0.10'), service('db', '10.96.0.12', 'tcp-db'), service('legacy', '10.96.0.13')],
    authorizations: [],
    extensions: [],
  };
  const wire = unpackAny(packAny(typeUrls.waypointConfig, config));
  assert.deepEqual(state.apply(typeUrls.waypointConfig, { upserts: new Map([['shop/client-0', wire]]), removals: [] }).rejected, []);
  return state;
}

describe('which outbound connections a sidecar serves at L7', () => {
  const state = sidecarState();

  it('serves an HTTP port of a service it has the config of, with an HBONE endpoint', () => {
    assert.equal(servesL7(state, { ip: '10.96.0.10', port: 80 }), true);
  });

  it('leaves a port declared TCP to the L4 path', () => {
    assert.equal(servesL7(state, { ip: '10.96.0.12', port: 80 }), false);
  });

  it('leaves a service whose endpoints are outside the mesh to the L4 path (passthrough, never L7 without mTLS)', () => {
    assert.equal(servesL7(state, { ip: '10.96.0.13', port: 80 }), false);
  });

  it('leaves a service with a waypoint to the L4 path, which sends it through its waypoint', () => {
    assert.equal(servesL7(state, { ip: '10.96.0.14', port: 80 }), false);
  });

  it('leaves a pod address, a port the service does not expose and an unknown address to the L4 path', () => {
    assert.equal(servesL7(state, { ip: '10.244.1.5', port: 8080 }), false);
    assert.equal(servesL7(state, { ip: '10.96.0.10', port: 81 }), false);
    assert.equal(servesL7(state, { ip: '192.0.2.1', port: 80 }), false);
  });
});
