// The converters must accept exactly what the discovery client produces: encode full domain
// objects (every field, as istiod-lite's model fills them) to protobuf and decode them back.
import assert from 'node:assert/strict';
import type { Address, Authorization } from '../../../src/index.ts';
import { packAny, unpackAny } from '../../../src/grpc.ts';
import { ProxyState } from '../../../src/proxy-runtime/state/proxy-state.ts';
import { typeUrls } from '../../../src/index.ts';
import { id, serviceKey } from '../../../src/testing/state-fixtures.ts';

const { address: addressTypeUrl, authorization: authorizationTypeUrl } = typeUrls;

const onTheWire = (typeUrl: string, payload: object): unknown => unpackAny(packAny(typeUrl, payload));

describe('ProxyState with protobuf-decoded payloads', () => {
  it('converts workloads, services and policies that went through the wire', () => {
    const workload: Address = {
      workload: {
        uid: 'uid-b',
        name: 'b',
        namespace: 'shop',
        node: 'node-2',
        addresses: ['10.244.2.2'],
        serviceAccount: 'server',
        trustDomain: 'cluster.local',
        identity: id('shop', 'server'),
        tunnelProtocol: 'HBONE',
        status: 'HEALTHY',
        canonicalName: 'server',
        canonicalRevision: 'v1',
        workloadName: 'server',
        workloadType: 'deployment',
        services: { [serviceKey('server')]: { ports: [{ servicePort: 80, targetPort: 8080, name: 'http', appProtocol: '' }] } },
        authorizationPolicies: ['istio-system/istio_converted_static_strict'],
        hostNetwork: false,
        nativeTunnel: true,
        waypoint: { address: '10.96.0.50', hostname: serviceKey('waypoint'), hboneMtlsPort: 15008, identity: id('shop', 'waypoint') },
      },
    };
    const service: Address = {
      service: {
        name: 'server',
        namespace: 'shop',
        hostname: 'server.shop.svc.cluster.local',
        addresses: ['10.96.0.10'],
        ports: [{ servicePort: 80, targetPort: 0, name: 'http', appProtocol: '' }],
        endpoints: [
          { workloadUid: 'uid-b', address: '10.244.2.2', ports: { 80: 8080 }, ready: true },
          { workloadUid: 'uid-c', address: '', ports: {}, ready: false },
        ],
      },
    };
    const strict: Authorization = {
      name: 'istio_converted_static_strict',
      namespace: 'istio-system',
      scope: 'WORKLOAD_SELECTOR',
      action: 'DENY',
      rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: true }], sourceIps: [{ address: '0.0.0.0', length: 0 }], destinationPorts: [8080] }] }] }],
      warnings: [],
    };
    const state = new ProxyState();
    const addresses = state.apply(addressTypeUrl, {
      upserts: new Map([
        ['uid-b', onTheWire(addressTypeUrl, workload)],
        [serviceKey('server'), onTheWire(addressTypeUrl, service)],
      ]),
      removals: [],
    });
    assert.deepEqual(addresses.rejected, []);
    const policies = state.apply(authorizationTypeUrl, {
      upserts: new Map([['istio-system/istio_converted_static_strict', onTheWire(authorizationTypeUrl, strict)]]),
      removals: [],
    });
    assert.deepEqual(policies.rejected, []);

    const b = state.workloadByIp('10.244.2.2')!;
    assert.equal(b.waypoint!.identity, id('shop', 'waypoint'));
    assert.equal(b.nativeTunnel, true, 'native_tunnel survives the wire');
    assert.deepEqual(b.services![serviceKey('server')]!.ports![0]!.targetPort, 8080);
    const svc = state.serviceByVip('10.96.0.10', 80)!;
    assert.deepEqual(svc.endpoints![0]!.ports, { 80: 8080 });
    assert.equal(svc.endpoints![1]!.ready, false);
    assert.equal(svc.endpoints![1]!.address, undefined);
    const [p] = state.policiesFor(b);
    assert.equal(p!.action, 'DENY');
    const m = p!.rules![0]!.clauses![0]!.matches![0]!;
    assert.deepEqual(m.notPrincipals, [{ presence: true }]);
    assert.deepEqual(m.sourceIps, [{ address: '0.0.0.0', length: 0 }]);
  });
});
