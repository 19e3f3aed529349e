import assert from 'node:assert/strict';
import { buildMeshModel } from '../../src/model/mesh-model.ts';
import { inputs, namespace, opts, pod, service, waypoint } from './fixtures.ts';

const key = 'shop/web.shop.svc.cluster.local';

describe('model: services', () => {
  it('builds hostname, VIP, ports and endpoints with per-pod target ports and readiness', () => {
    const model = buildMeshModel(
      inputs(
        pod('a', { uid: 'a', ip: '10.244.1.2', labels: { app: 'web' }, ports: [{ name: 'web', containerPort: 8080 }] }),
        pod('b', { uid: 'b', ip: '10.244.2.2', labels: { app: 'web' }, ports: [{ name: 'web', containerPort: 9090 }], ready: false }),
        pod('other', { uid: 'o', labels: { app: 'other' } }),
        service('web', { ip: '10.96.0.20', ports: [{ name: 'http', port: 80, targetPort: 'web' }] }),
      ),
      opts,
    );
    assert.deepEqual(model.services.get(key), {
      name: 'web',
      namespace: 'shop',
      hostname: 'web.shop.svc.cluster.local',
      addresses: ['10.96.0.20'],
      ports: [{ servicePort: 80, targetPort: 0, name: 'http' }],
      endpoints: [
        { workloadUid: 'a', address: '10.244.1.2', ports: { 80: 8080 }, ready: true },
        { workloadUid: 'b', address: '10.244.2.2', ports: { 80: 9090 }, ready: false },
      ],
    });
  });

  it('gives a headless service no address and a selector-less one no endpoints', () => {
    const headless = service('web', { ip: 'None' });
    const manual = service('manual');
    manual.spec.selector = undefined;
    const model = buildMeshModel(inputs(pod('a', { labels: { app: 'web' } }), pod('m', { labels: { app: 'manual' } }), headless, manual), opts);
    assert.deepEqual(model.services.get(key)!.addresses, []);
    assert.equal(model.services.get(key)!.endpoints!.length, 1);
    assert.deepEqual(model.services.get('shop/manual.shop.svc.cluster.local')!.endpoints, []);
  });

  describe('waypoint binding (service > namespace) and istio.io/WaypointBound', () => {
    const cases: {
      name: string;
      ns: Record<string, string>;
      svc: Record<string, string>;
      objs: any[];
      want?: string;
      cond?: [string, string];
      /** Traffic is refused rather than sent around the waypoint (waypointUnavailable set). */
      refused?: boolean;
    }[] = [
      {
        name: 'inherits the namespace waypoint',
        ns: { 'istio.io/use-waypoint': 'wp' },
        svc: {},
        objs: [waypoint('wp')],
        want: '10.96.0.99',
        cond: ['True', 'WaypointAccepted'],
      },
      {
        name: 'the service label wins over the namespace',
        ns: { 'istio.io/use-waypoint': 'wp' },
        svc: { 'istio.io/use-waypoint': 'wp2' },
        objs: [waypoint('wp'), waypoint('wp2', { ip: '10.96.0.98' })],
        want: '10.96.0.98',
        cond: ['True', 'WaypointAccepted'],
      },
      {
        name: 'none on the service disables the namespace waypoint',
        ns: { 'istio.io/use-waypoint': 'wp' },
        svc: { 'istio.io/use-waypoint': 'none' },
        objs: [waypoint('wp')],
      },
      {
        name: 'a missing waypoint binds nothing, says so, and has its traffic refused',
        ns: {},
        svc: { 'istio.io/use-waypoint': 'ghost' },
        objs: [],
        cond: ['False', 'NoSuchWaypoint'],
        refused: true,
      },
      {
        name: 'a workload-only waypoint does not take service traffic',
        ns: {},
        svc: { 'istio.io/use-waypoint': 'wp' },
        objs: [waypoint('wp', { waypointFor: 'workload' })],
        cond: ['False', 'InvalidWaypoint'],
        refused: false,
      },
      {
        name: 'an all waypoint takes service traffic',
        ns: {},
        svc: { 'istio.io/use-waypoint': 'wp' },
        objs: [waypoint('wp', { waypointFor: 'all' })],
        want: '10.96.0.99',
        cond: ['True', 'WaypointAccepted'],
      },
      {
        name: 'a waypoint with waypoint-for none takes nothing',
        ns: {},
        svc: { 'istio.io/use-waypoint': 'wp' },
        objs: [waypoint('wp', { waypointFor: 'none' })],
        cond: ['False', 'InvalidWaypoint'],
      },
      { name: 'no label, no condition', ns: {}, svc: {}, objs: [] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const model = buildMeshModel(inputs(namespace('shop', c.ns), service('web', { labels: c.svc }), ...c.objs), opts);
        assert.equal(model.services.get(key)!.waypoint?.address, c.want);
        assert.equal(model.services.get(key)!.waypointUnavailable !== undefined, c.refused ?? false, String(model.services.get(key)!.waypointUnavailable));
        const status = model.statuses.find((s) => s.kind === 'Service' && s.name === 'web');
        if (!c.cond) return assert.equal(status, undefined);
        assert.equal(status!.conditions[0]!.type, 'istio.io/WaypointBound');
        assert.deepEqual([status!.conditions[0]!.status, status!.conditions[0]!.reason], c.cond);
      });
    }

    it('names the missing waypoint in the condition message', () => {
      const model = buildMeshModel(inputs(namespace('shop'), service('web', { labels: { 'istio.io/use-waypoint': 'ghost' } })), opts);
      assert.equal(model.statuses.find((s) => s.kind === 'Service')!.conditions[0]!.message, 'waypoint shop/ghost not found');
    });

    it('does not bind before the waypoint Service has a ClusterIP', () => {
      const [gw] = waypoint('wp');
      const model = buildMeshModel(inputs(namespace('shop'), gw!, service('web', { labels: { 'istio.io/use-waypoint': 'wp' } })), opts);
      assert.equal(model.services.get(key)!.waypoint, undefined);
      assert.equal(model.statuses.find((s) => s.kind === 'Service')!.conditions[0]!.reason, 'WaypointNotReady');
      assert.match(model.services.get(key)!.waypointUnavailable ?? '', /waypoint shop\/wp, which is unavailable \(WaypointNotReady/);
    });
  });
});
