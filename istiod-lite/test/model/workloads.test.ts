import assert from 'node:assert/strict';
import { buildMeshModel } from '../../src/model/mesh-model.ts';
import { inputs, namespace, opts, pod, service, waypoint } from './fixtures.ts';

function onlyWorkload(...objects: Parameters<typeof inputs>) {
  const model = buildMeshModel(inputs(...objects), opts);
  assert.equal(model.workloads.size, 1);
  return [...model.workloads.values()][0]!;
}

describe('model: workloads', () => {
  describe('enrollment', () => {
    const cases: { name: string; nsLabels: Record<string, string>; podLabels: Record<string, string>; hostNetwork?: boolean; want: string }[] = [
      { name: 'enrolls pods of a namespace labelled ambient', nsLabels: { 'istio.io/dataplane-mode': 'ambient' }, podLabels: {}, want: 'HBONE' },
      { name: 'enrolls a pod labelled ambient in an unlabelled namespace', nsLabels: {}, podLabels: { 'istio.io/dataplane-mode': 'ambient' }, want: 'HBONE' },
      {
        name: 'leaves out a pod that opts out with none',
        nsLabels: { 'istio.io/dataplane-mode': 'ambient' },
        podLabels: { 'istio.io/dataplane-mode': 'none' },
        want: 'NONE',
      },
      { name: 'does not enroll unlabelled pods of an unlabelled namespace', nsLabels: {}, podLabels: {}, want: 'NONE' },
      { name: 'does not enroll a namespace with another mode', nsLabels: { 'istio.io/dataplane-mode': 'sidecar' }, podLabels: {}, want: 'NONE' },
      { name: 'never enrolls hostNetwork pods', nsLabels: { 'istio.io/dataplane-mode': 'ambient' }, podLabels: {}, hostNetwork: true, want: 'NONE' },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const w = onlyWorkload(namespace('shop', c.nsLabels), pod('a', { labels: c.podLabels, hostNetwork: c.hostNetwork ?? false }));
        assert.equal(w.tunnelProtocol, c.want);
        assert.equal(w.hostNetwork, c.hostNetwork ?? false);
      });
    }
  });

  it('carries identity, node, address and the default service account', () => {
    const w = onlyWorkload(namespace('shop'), pod('a', { ip: '10.244.2.7', node: 'node-b', uid: 'u1' }));
    assert.deepEqual(
      { uid: w.uid, node: w.node, addresses: w.addresses, sa: w.serviceAccount, identity: w.identity, td: w.trustDomain },
      { uid: 'u1', node: 'node-b', addresses: ['10.244.2.7'], sa: 'default', identity: 'spiffe://cluster.local/ns/shop/sa/default', td: 'cluster.local' },
    );
    assert.equal(onlyWorkload(pod('b', { sa: 'cart' })).identity, 'spiffe://cluster.local/ns/shop/sa/cart');
  });

  describe('health and presence', () => {
    const cases = [
      { name: 'a running ready pod is healthy', o: {}, want: 'HEALTHY' },
      { name: 'a pod not ready is unhealthy', o: { ready: false }, want: 'UNHEALTHY' },
      { name: 'a pending pod with an address is unhealthy', o: { phase: 'Pending' }, want: 'UNHEALTHY' },
      { name: 'a pod being deleted is unhealthy', o: { deleting: true }, want: 'UNHEALTHY' },
    ];
    for (const c of cases) it(c.name, () => assert.equal(onlyWorkload(pod('a', c.o)).status, c.want));

    it('leaves out terminal pods and pods without an address', () => {
      const model = buildMeshModel(inputs(pod('done', { phase: 'Succeeded' }), pod('failed', { phase: 'Failed' }), pod('new', { ip: '' })), opts);
      assert.equal(model.workloads.size, 0);
    });
  });

  describe('canonical names and workload owner', () => {
    const cases: { name: string; labels: Record<string, string>; want: string[]; owner?: { kind: string; name: string } }[] = [
      { name: 'canonical-name label wins', labels: { 'service.istio.io/canonical-name': 'c', 'app.kubernetes.io/name': 'k', app: 'a' }, want: ['c', 'latest'] },
      { name: 'app.kubernetes.io/name before app', labels: { 'app.kubernetes.io/name': 'k', app: 'a', version: 'v2' }, want: ['k', 'v2'] },
      { name: 'app label and canonical revision', labels: { app: 'a', 'service.istio.io/canonical-revision': 'r1', version: 'v2' }, want: ['a', 'r1'] },
      { name: 'app.kubernetes.io/version before version', labels: { app: 'a', 'app.kubernetes.io/version': '1.2', version: 'v2' }, want: ['a', '1.2'] },
      { name: 'falls back to the workload name', labels: {}, want: ['web', 'latest'], owner: { kind: 'ReplicaSet', name: 'web-5d8f9c7b6d' } },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const w = onlyWorkload(pod('web-5d8f9c7b6d-x2x9z', { labels: c.labels, ...(c.owner ? { owner: c.owner } : {}) }));
        assert.deepEqual([w.canonicalName, w.canonicalRevision], c.want);
      });
    }
    const owners = [
      { owner: { kind: 'ReplicaSet', name: 'web-5d8f9c7b6d' }, want: ['web', 'deployment'] },
      { owner: { kind: 'Deployment', name: 'web' }, want: ['web', 'deployment'] },
      { owner: { kind: 'DaemonSet', name: 'agent' }, want: ['agent', 'daemonset'] },
      { owner: undefined, want: ['solo', 'pod'] },
    ];
    for (const c of owners) {
      it(`maps owner ${c.owner?.kind ?? 'none'} to ${c.want.join(' ')}`, () => {
        const w = onlyWorkload(pod('solo', c.owner ? { owner: c.owner } : {}));
        assert.deepEqual([w.workloadName, w.workloadType], c.want);
      });
    }
  });

  describe('waypoint binding (pod > namespace)', () => {
    const wp = (n: string, f = 'workload') => waypoint(n, { waypointFor: f, ip: n === 'wp-pod' ? '10.96.0.51' : '10.96.0.50' });
    const cases: { name: string; ns: Record<string, string>; pod: Record<string, string>; objs: any[]; want: string | undefined; refused?: boolean }[] = [
      { name: 'inherits the namespace waypoint', ns: { 'istio.io/use-waypoint': 'wp-ns' }, pod: {}, objs: [wp('wp-ns')], want: '10.96.0.50' },
      {
        name: 'the pod label wins over the namespace',
        ns: { 'istio.io/use-waypoint': 'wp-ns' },
        pod: { 'istio.io/use-waypoint': 'wp-pod' },
        objs: [wp('wp-ns'), wp('wp-pod')],
        want: '10.96.0.51',
      },
      {
        name: 'none on the pod disables the namespace waypoint',
        ns: { 'istio.io/use-waypoint': 'wp-ns' },
        pod: { 'istio.io/use-waypoint': 'none' },
        objs: [wp('wp-ns')],
        want: undefined,
      },
      {
        name: 'a missing waypoint the pod names itself: no waypoint, and its traffic refused',
        ns: {},
        pod: { 'istio.io/use-waypoint': 'ghost' },
        objs: [],
        want: undefined,
        refused: true,
      },
      {
        name: 'a missing waypoint named by the namespace only: workload traffic was never meant for it',
        ns: { 'istio.io/use-waypoint': 'ghost' },
        pod: {},
        objs: [],
        want: undefined,
        refused: false,
      },
      {
        name: 'a service-only waypoint does not take workload traffic',
        ns: { 'istio.io/use-waypoint': 'wp-ns' },
        pod: {},
        objs: [wp('wp-ns', 'service')],
        want: undefined,
      },
      { name: 'an all waypoint takes workload traffic', ns: { 'istio.io/use-waypoint': 'wp-ns' }, pod: {}, objs: [wp('wp-ns', 'all')], want: '10.96.0.50' },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const model = buildMeshModel(inputs(namespace('shop', c.ns), pod('a', { labels: c.pod, uid: 'a' }), ...c.objs), opts);
        const w = model.workloads.get('a')!;
        assert.equal(w.waypoint?.address, c.want);
        assert.equal(w.waypointUnavailable !== undefined, c.refused ?? false, String(w.waypointUnavailable));
        if (c.want) {
          assert.equal(w.waypoint!.hboneMtlsPort, 15008);
          assert.match(w.waypoint!.identity, /^spiffe:\/\/cluster\.local\/ns\/shop\/sa\/wp-/);
        }
      });
    }

    it('binds to a waypoint in another namespace via use-waypoint-namespace', () => {
      const model = buildMeshModel(
        inputs(
          namespace('shop'),
          pod('a', { uid: 'a', labels: { 'istio.io/use-waypoint': 'shared', 'istio.io/use-waypoint-namespace': 'infra' } }),
          waypoint('shared', { ns: 'infra', waypointFor: 'all', ip: '10.96.1.1' }),
        ),
        opts,
      );
      assert.deepEqual(model.workloads.get('a')!.waypoint, {
        address: '10.96.1.1',
        hostname: 'infra/shared.infra.svc.cluster.local',
        hboneMtlsPort: 15008,
        identity: 'spiffe://cluster.local/ns/infra/sa/shared',
      });
    });

    it("never sends a waypoint's own pods to a waypoint", () => {
      const model = buildMeshModel(
        inputs(
          namespace('shop', { 'istio.io/use-waypoint': 'wp' }),
          waypoint('wp', { waypointFor: 'all' }),
          pod('wp-7f9c', { uid: 'w', labels: { 'gateway.networking.k8s.io/gateway-name': 'wp' } }),
        ),
        opts,
      );
      assert.equal(model.workloads.get('w')!.waypoint, undefined);
    });
  });

  describe('services of a workload (named target ports)', () => {
    it('resolves a named targetPort to the pod container port and keeps numeric ones', () => {
      const model = buildMeshModel(
        inputs(
          pod('a', { uid: 'a', labels: { app: 'web' }, ports: [{ name: 'http-web', containerPort: 9090 }] }),
          service('web', {
            ports: [
              { name: 'http', port: 80, targetPort: 'http-web' },
              { name: 'grpc', port: 81, targetPort: 9091 },
              { name: 'plain', port: 82 },
            ],
          }),
        ),
        opts,
      );
      assert.deepEqual(model.workloads.get('a')!.services, {
        'shop/web.shop.svc.cluster.local': {
          ports: [
            { servicePort: 80, targetPort: 9090, name: 'http' },
            { servicePort: 81, targetPort: 9091, name: 'grpc' },
            { servicePort: 82, targetPort: 82, name: 'plain' },
          ],
        },
      });
    });

    it('leaves out a named port the pod does not declare', () => {
      const model = buildMeshModel(
        inputs(pod('a', { uid: 'a', labels: { app: 'web' } }), service('web', { ports: [{ port: 80, targetPort: 'missing' }] })),
        opts,
      );
      assert.deepEqual(model.workloads.get('a')!.services, { 'shop/web.shop.svc.cluster.local': { ports: [] } });
    });
  });
});
