import assert from 'node:assert/strict';
import { packAny, protoRoot, unpackAny } from '../../src/grpc-protos.ts';
import { typeUrls } from '../../src/well-known.ts';

// Istio tells "consecutive5xxErrors: 0" (the check off) from an absent field (5). The proto says
// so with proto3 `optional`; the loader must keep the difference through the wire.
const config = (trafficPolicy: object) => ({
  namespace: 'shop',
  name: 'wp',
  identity: 'spiffe://cluster.local/ns/shop/sa/wp',
  services: [{ name: 'web', namespace: 'shop', hostname: 'web.shop.svc.cluster.local', trafficPolicy: { name: 'shop/web', ...trafficPolicy } }],
});

function trafficPolicyAfterTheWire(trafficPolicy: object): Record<string, any> {
  const back = unpackAny(packAny(typeUrls.waypointConfig, config(trafficPolicy))) as { services: { trafficPolicy: Record<string, any> }[] };
  return back.services[0]!.trafficPolicy;
}

describe('proto3 optional fields (WaypointConfig traffic policy)', () => {
  it('the loader accepts the optional fields, and protobufjs tracks their presence', () => {
    const fields = protoRoot.lookupType('ambient.waypoint.v1.OutlierDetection').fields;
    assert.equal(fields.consecutive_5xxErrors!.partOf?.name, '_consecutive_5xxErrors');
    assert.equal(fields.maxEjectionPercent!.partOf?.name, '_maxEjectionPercent');
    assert.equal(fields.intervalMs!.partOf, null, 'a plain field has no presence');
  });

  it('keeps an explicit 0 apart from an absent field', () => {
    const zero = trafficPolicyAfterTheWire({ outlierDetection: { consecutive_5xxErrors: 0, maxEjectionPercent: 0 } }).outlierDetection;
    assert.equal(zero.consecutive_5xxErrors, 0);
    assert.equal(zero.maxEjectionPercent, 0);
    const absent = trafficPolicyAfterTheWire({ outlierDetection: { intervalMs: 5000 } }).outlierDetection;
    assert.equal('consecutive_5xxErrors' in absent, false);
    assert.equal('maxEjectionPercent' in absent, false);
    assert.equal(absent.intervalMs, 5000);
  });

  it('names the set member of a synthetic oneof with a virtual "_<field>" key (readers must ignore it)', () => {
    const od = trafficPolicyAfterTheWire({ outlierDetection: { consecutive_5xxErrors: 3 } }).outlierDetection;
    assert.deepEqual(od, { consecutive_5xxErrors: 3, _consecutive_5xxErrors: 'consecutive_5xxErrors' });
  });

  it('carries a consistent hash with its key oneof and an optional cookie ttl of 0', () => {
    const ch = trafficPolicyAfterTheWire({ consistentHash: { httpCookie: { name: 'user', path: '/', ttlMs: 0 }, tableSize: 65537 } }).consistentHash;
    assert.equal(ch.hashKey, 'httpCookie');
    assert.equal(ch.tableSize, 65537);
    assert.equal(ch.httpCookie.name, 'user');
    assert.equal(ch.httpCookie.ttlMs, 0);
    const noTtl = trafficPolicyAfterTheWire({ consistentHash: { httpCookie: { name: 'user' } } }).consistentHash;
    assert.equal('ttlMs' in noTtl.httpCookie, false);
    assert.deepEqual(trafficPolicyAfterTheWire({ consistentHash: { useSourceIp: true } }).consistentHash, { useSourceIp: true, hashKey: 'useSourceIp' });
  });
});
