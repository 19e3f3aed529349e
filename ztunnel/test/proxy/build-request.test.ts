import assert from 'node:assert/strict';
import type { Workload } from '@ambient/api';
import { formatSocketAddress } from '@ambient/hbone';
import { buildRequest, isRefusal } from '../../src/proxy/build-request.ts';
import type { EndpointCandidate, Picker, Request } from '../../src/proxy/build-request.ts';
import type { ProxyState } from '@ambient/api/proxy-runtime';
import { gateway, id, loadState, serviceKey, wireService, wireWorkload } from '@ambient/api/testing';

// node-1: client a, the waypoint pod. node-2: server pods b1/b2, reviews r1, a workload with its
// own waypoint, and a plaintext (non-mesh) pod.
function mesh(): ProxyState {
  return loadState([
    wireWorkload({ uid: 'a', ip: '10.244.1.2', sa: 'client' }),
    wireWorkload({
      uid: 'wp',
      ip: '10.244.1.5',
      sa: 'waypoint',
      services: { [serviceKey('waypoint')]: { ports: [{ servicePort: 15008, targetPort: 15008 }] } },
    }),
    wireWorkload({ uid: 'b1', ip: '10.244.2.2', node: 'node-2', sa: 'server' }),
    wireWorkload({ uid: 'b2', ip: '10.244.2.3', node: 'node-2', sa: 'server' }),
    wireWorkload({ uid: 'b3', ip: '10.244.2.8', node: 'node-2', sa: 'server', status: 'UNHEALTHY' }),
    wireWorkload({ uid: 'r1', ip: '10.244.2.4', node: 'node-2', sa: 'reviews' }),
    wireWorkload({ uid: 'w', ip: '10.244.2.6', node: 'node-2', sa: 'db', waypoint: gateway('waypoint', '10.96.0.50') }),
    wireWorkload({ uid: 'p', ip: '10.244.2.9', node: 'node-2', namespace: 'legacy', hbone: false }),
    wireService({
      name: 'server',
      vip: '10.96.0.10',
      ports: [
        [80, 8080],
        [81, 0],
      ],
      endpoints: [
        { uid: 'b1', ip: '10.244.2.2', ports: { 80: 8080 } },
        { uid: 'b2', ip: '10.244.2.3', ports: { 80: 9090 } },
        { uid: 'b3', ip: '10.244.2.8' },
        { uid: 'not-yet-received', ip: '10.244.2.77' },
        { uid: 'b1', ip: '10.244.2.2', ready: false },
      ],
    }),
    wireService({
      name: 'reviews',
      vip: '10.96.0.20',
      ports: [[9080, 9080]],
      waypoint: gateway('waypoint', '10.96.0.50'),
      endpoints: [{ uid: 'r1', ip: '10.244.2.4' }],
    }),
    wireService({ name: 'waypoint', vip: '10.96.0.50', ports: [[15008, 15008]], endpoints: [{ uid: 'wp', ip: '10.244.1.5' }] }),
    wireService({ name: 'legacy', namespace: 'legacy', vip: '10.96.0.40', ports: [[80, 8000]], endpoints: [{ uid: 'p', ip: '10.244.2.9' }] }),
    wireService({ name: 'empty', vip: '10.96.0.30', ports: [[80, 80]], endpoints: [{ uid: 'b1', ip: '10.244.2.2', ready: false }] }),
  ]);
}

const first: Picker = () => 0;

function request(state: ProxyState, source: string, ip: string, port: number, pick: Picker = first): Request {
  const r = buildRequest(state, { source: state.workloadByUid(source)!, originalDst: { ip, port } }, pick);
  if (isRefusal(r)) assert.fail(`unexpected refusal: ${r.reason}`);
  return r;
}

function summary(r: Request): object {
  return {
    protocol: r.protocol,
    actualDestination: r.actualDestination,
    hboneTarget: r.hboneTarget,
    expectedIdentities: r.expectedIdentities,
    viaWaypoint: r.viaWaypoint,
    destinationWorkload: r.destinationWorkload?.uid,
    destinationService: r.destinationService?.name,
    finalIdentity: r.finalIdentity,
  };
}

describe('buildRequest', () => {
  it('build_request_destination_hbone_pod: pod ip → HBONE to pod:15008, authority pod:port, its identity', () => {
    assert.deepEqual(summary(request(mesh(), 'a', '10.244.2.2', 8080)), {
      protocol: 'HBONE',
      actualDestination: { ip: '10.244.2.2', port: 15008 },
      hboneTarget: { ip: '10.244.2.2', port: 8080 },
      expectedIdentities: [id('shop', 'server')],
      viaWaypoint: false,
      destinationWorkload: 'b1',
      destinationService: undefined,
      finalIdentity: id('shop', 'server'),
    });
  });

  it('build_request_service_to_hbone_pod: VIP → healthy endpoint, port mapped by the endpoint', () => {
    const seen: EndpointCandidate[][] = [];
    const r = request(mesh(), 'a', '10.96.0.10', 80, (eps) => {
      seen.push([...eps]);
      return 1;
    });
    // Unready, unhealthy and not-yet-received workloads are never candidates.
    assert.deepEqual(
      seen[0]!.map((c) => [c.workload.uid, c.ip, c.port]),
      [
        ['b1', '10.244.2.2', 8080],
        ['b2', '10.244.2.3', 9090],
      ],
    );
    assert.deepEqual(summary(r), {
      protocol: 'HBONE',
      actualDestination: { ip: '10.244.2.3', port: 15008 },
      hboneTarget: { ip: '10.244.2.3', port: 9090 },
      expectedIdentities: [id('shop', 'server')],
      viaWaypoint: false,
      destinationWorkload: 'b2',
      destinationService: 'server',
      finalIdentity: id('shop', 'server'),
    });
  });

  it('build_request_service_port_fallback: without an endpoint mapping, the service target port (0 = same port)', () => {
    assert.deepEqual(request(mesh(), 'a', '10.96.0.10', 81).hboneTarget, { ip: '10.244.2.2', port: 81 });
  });

  it('build_request_service_waypoint: VIP of a service with a waypoint → HBONE to a waypoint pod, authority the ORIGINAL vip:port', () => {
    assert.deepEqual(summary(request(mesh(), 'a', '10.96.0.20', 9080)), {
      protocol: 'HBONE',
      actualDestination: { ip: '10.244.1.5', port: 15008 },
      hboneTarget: { ip: '10.96.0.20', port: 9080 },
      expectedIdentities: [id('shop', 'waypoint')],
      viaWaypoint: true,
      destinationWorkload: 'wp',
      destinationService: 'reviews',
      finalIdentity: undefined,
    });
  });

  it('build_request_from_waypoint_no_loop: the waypoint itself calling the service goes to the endpoint', () => {
    assert.deepEqual(summary(request(mesh(), 'wp', '10.96.0.20', 9080)), {
      protocol: 'HBONE',
      actualDestination: { ip: '10.244.2.4', port: 15008 },
      hboneTarget: { ip: '10.244.2.4', port: 9080 },
      expectedIdentities: [id('shop', 'reviews')],
      viaWaypoint: false,
      destinationWorkload: 'r1',
      destinationService: 'reviews',
      finalIdentity: id('shop', 'reviews'),
    });
  });

  it('build_request_destination_waypoint: pod ip of a workload with a waypoint → HBONE to the waypoint, authority the pod ip:port', () => {
    assert.deepEqual(summary(request(mesh(), 'a', '10.244.2.6', 5432)), {
      protocol: 'HBONE',
      actualDestination: { ip: '10.244.1.5', port: 15008 },
      hboneTarget: { ip: '10.244.2.6', port: 5432 },
      expectedIdentities: [id('shop', 'waypoint')],
      viaWaypoint: true,
      destinationWorkload: 'wp',
      destinationService: undefined,
      finalIdentity: id('shop', 'db'),
    });
  });

  it('build_request_destination_waypoint_from_waypoint: the waypoint reaches the workload directly', () => {
    assert.deepEqual(request(mesh(), 'wp', '10.244.2.6', 5432).actualDestination, { ip: '10.244.2.6', port: 15008 });
  });

  it('build_request_waypoint_unknown_service: a waypoint not (yet) in the state is reached at its address', () => {
    const state = loadState([
      wireWorkload({ uid: 'a', ip: '10.244.1.2' }),
      wireWorkload({ uid: 'w', ip: '10.244.2.6', waypoint: gateway('elsewhere', '10.96.0.99') }),
    ]);
    const r = request(state, 'a', '10.244.2.6', 80);
    assert.deepEqual(
      [r.actualDestination, r.hboneTarget, r.expectedIdentities],
      [{ ip: '10.96.0.99', port: 15008 }, { ip: '10.244.2.6', port: 80 }, [id('shop', 'elsewhere')]],
    );
  });

  it('build_request_waypoint_without_endpoints: refused, naming the waypoint', () => {
    const state = loadState([
      wireWorkload({ uid: 'a', ip: '10.244.1.2' }),
      wireWorkload({ uid: 'r1', ip: '10.244.2.4' }),
      wireService({ name: 'waypoint', vip: '10.96.0.50', ports: [[15008, 15008]] }),
      wireService({ name: 'reviews', vip: '10.96.0.20', ports: [[9080, 9080]], waypoint: gateway('waypoint', '10.96.0.50'), endpoints: [{ uid: 'r1' }] }),
    ]);
    assert.deepEqual(buildRequest(state, { source: state.workloadByUid('a')!, originalDst: { ip: '10.96.0.20', port: 9080 } }), {
      refused: true,
      reason: `no healthy endpoints for waypoint ${serviceKey('waypoint')}`,
    });
  });

  // Regression: a Service (or pod) labelled istio.io/use-waypoint for a waypoint that does not
  // exist or cannot be used was sent straight to its endpoints, skipping the L7 policy the user
  // asked for. It is refused instead, naming the waypoint and why.
  it('build_request_waypoint_unavailable: traffic that must pass an unusable waypoint is refused, never sent around it', () => {
    const state = loadState([
      wireWorkload({ uid: 'a', ip: '10.244.1.2', sa: 'client' }),
      wireWorkload({ uid: 'b1', ip: '10.244.2.2', node: 'node-2', sa: 'server', waypointUnavailable: 'waypoint shop/ghost: NoSuchWaypoint' }),
      wireService({
        name: 'server',
        vip: '10.96.0.10',
        ports: [[80, 8080]],
        endpoints: [{ uid: 'b1', ip: '10.244.2.2', ports: { 80: 8080 } }],
        waypointUnavailable: 'waypoint shop/ghost: NoSuchWaypoint',
      }),
    ]);
    const source = state.workloadByUid('a')!;
    for (const ip of ['10.96.0.10', '10.244.2.2']) {
      const r = buildRequest(state, { source, originalDst: { ip, port: ip === '10.96.0.10' ? 80 : 8080 } });
      assert.ok(isRefusal(r), `${ip}: ${JSON.stringify(r)}`);
      assert.match(r.reason, /waypoint shop\/ghost: NoSuchWaypoint/);
    }
  });

  it('build_request_passthrough_unknown_ip: an address outside the mesh → plain TCP to it', () => {
    assert.deepEqual(summary(request(mesh(), 'a', '192.0.2.10', 443)), {
      protocol: 'TCP',
      actualDestination: { ip: '192.0.2.10', port: 443 },
      hboneTarget: undefined,
      expectedIdentities: [],
      viaWaypoint: false,
      destinationWorkload: undefined,
      destinationService: undefined,
      finalIdentity: undefined,
    });
  });

  it("build_request_ztunnel_own_port: a mesh pod's 15001/15006/15008/15000/15020/15021 are refused (ztunnel would loop into itself)", () => {
    for (const port of [15001, 15006, 15008, 15000, 15020, 15021]) {
      const r = buildRequest(mesh(), { source: mesh().workloadByUid('a')!, originalDst: { ip: '10.244.2.2', port } });
      assert.ok(isRefusal(r) && /ztunnel's own/.test(r.reason), `port ${port}: ${JSON.stringify(r)}`);
    }
    // A pod outside the mesh has no ztunnel listening in it: its ports are its own.
    assert.equal(request(mesh(), 'a', '10.244.2.9', 15006).protocol, 'TCP');
  });

  it('build_request_destination_none_protocol: a workload not in the mesh → plain TCP', () => {
    const r = request(mesh(), 'a', '10.244.2.9', 8000);
    assert.deepEqual([r.protocol, r.actualDestination, r.destinationWorkload?.uid], ['TCP', { ip: '10.244.2.9', port: 8000 }, 'p']);
  });

  it('build_request_service_to_none_pod: a service of plaintext pods → TCP to the endpoint target port', () => {
    const r = request(mesh(), 'a', '10.96.0.40', 80);
    assert.deepEqual([r.protocol, r.actualDestination, r.destinationService?.name], ['TCP', { ip: '10.244.2.9', port: 8000 }, 'legacy']);
  });

  it('build_request_no_healthy_endpoints: refused with the service named', () => {
    const state = mesh();
    assert.deepEqual(buildRequest(state, { source: state.workloadByUid('a')!, originalDst: { ip: '10.96.0.30', port: 80 } }), {
      refused: true,
      reason: `no healthy endpoints for service ${serviceKey('empty')}`,
    });
  });

  it('build_request_service_unknown_port: a VIP port the service does not expose is refused', () => {
    const state = mesh();
    const r = buildRequest(state, { source: state.workloadByUid('a')!, originalDst: { ip: '10.96.0.10', port: 443 } });
    assert.deepEqual(r, { refused: true, reason: `service ${serviceKey('server')} has no port 443` });
  });

  it('build_request_never_plaintext_to_mesh: an endpoint reported plaintext whose ip a mesh pod holds is refused', () => {
    // The stale endpoint's workload says NONE, but the ip now belongs to enrolled pod b1.
    const state = loadState([
      wireWorkload({ uid: 'a', ip: '10.244.1.2' }),
      wireWorkload({ uid: 'stale', ip: '10.244.2.2', hbone: false }),
      wireWorkload({ uid: 'b1', ip: '10.244.2.2' }),
      wireService({ name: 'svc', vip: '10.96.0.60', ports: [[80, 80]], endpoints: [{ uid: 'stale', ip: '10.244.2.2' }] }),
    ]);
    const r = buildRequest(state, { source: state.workloadByUid('a')!, originalDst: { ip: '10.96.0.60', port: 80 } });
    assert.ok(isRefusal(r));
    assert.match(r.reason, /refusing plaintext to 10\.244\.2\.2:80: it belongs to mesh workload shop\/b1/);
  });

  it('build_request_ipv4_mapped_destination: a v4-mapped original destination is the same pod', () => {
    assert.deepEqual(request(mesh(), 'a', '::ffff:10.244.2.2', 8080).actualDestination, { ip: '10.244.2.2', port: 15008 });
  });

  it('refuses an original destination that is not an address or port', () => {
    const state = mesh();
    const source: Workload = state.workloadByUid('a')!;
    assert.match((buildRequest(state, { source, originalDst: { ip: 'nope', port: 80 } }) as { reason: string }).reason, /"nope" is not an ip address/);
    assert.match((buildRequest(state, { source, originalDst: { ip: '10.0.0.1', port: 0 } }) as { reason: string }).reason, /port 0 is not a port number/);
  });

  it('spreads service traffic with the default picker and rejects a picker out of range', () => {
    const state = mesh();
    const source = state.workloadByUid('a')!;
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 2; i++)
      seen.add(formatSocketAddress((buildRequest(state, { source, originalDst: { ip: '10.96.0.10', port: 80 } }) as Request).actualDestination));
    assert.deepEqual([...seen].sort(), ['10.244.2.2:15008', '10.244.2.3:15008']);
    assert.throws(() => buildRequest(state, { source, originalDst: { ip: '10.96.0.10', port: 80 } }, () => 5), /endpoint picker returned 5 for 2 candidates/);
  });
});
