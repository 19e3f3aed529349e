import assert from 'node:assert/strict';
import { typeUrls } from '@ambient/api';
import { buildMeshModel, resourcesForProxy } from '../../src/model/mesh-model.ts';

const { address: addressTypeUrl, authorization: authorizationTypeUrl, waypointConfig: waypointConfigTypeUrl } = typeUrls;
import { authorizationPolicy, httpRoute, inputs, namespace, opts, pod, service, waypoint } from './fixtures.ts';

describe('model: resourcesForProxy', () => {
  const model = buildMeshModel(
    inputs(
      namespace('shop', { 'istio.io/use-waypoint': 'wp' }),
      namespace('bank'),
      waypoint('wp'),
      waypoint('other', { ip: '10.96.0.97' }),
      pod('web', { uid: 'web', labels: { app: 'web' } }),
      service('web'),
      pod('vault', { ns: 'bank', uid: 'vault', labels: { app: 'vault' } }),
      service('vault', { ns: 'bank' }),
      authorizationPolicy('deny-all', { action: 'DENY', rules: [{}] }, 'bank'),
    ),
    opts,
  );

  it('gives ztunnel every address (workloads and services wrapped) and every authorization', () => {
    const addrs = resourcesForProxy(model, { type: 'ztunnel', namespace: 'istio-system', name: 'ztunnel' }, addressTypeUrl);
    assert.deepEqual([...addrs.keys()].sort(), [
      'bank/vault.bank.svc.cluster.local',
      'shop/other.shop.svc.cluster.local',
      'shop/web.shop.svc.cluster.local',
      'shop/wp.shop.svc.cluster.local',
      'vault',
      'web',
    ]);
    assert.equal((addrs.get('web') as any).workload.name, 'web');
    assert.equal((addrs.get('shop/web.shop.svc.cluster.local') as any).service.waypoint.address, '10.96.0.99');
    assert.deepEqual([...resourcesForProxy(model, { type: 'ztunnel', namespace: 'istio-system', name: 'z' }, authorizationTypeUrl).keys()], ['bank/deny-all']);
    assert.equal(resourcesForProxy(model, { type: 'ztunnel', namespace: 'istio-system', name: 'z' }, waypointConfigTypeUrl).size, 0);
  });

  it('gives a waypoint only its own config and its namespace addresses, no L4 policy', () => {
    const proxy = { type: 'waypoint' as const, namespace: 'shop', name: 'wp' };
    assert.deepEqual([...resourcesForProxy(model, proxy, waypointConfigTypeUrl).keys()], ['shop/wp']);
    const addrs = [...resourcesForProxy(model, proxy, addressTypeUrl).keys()];
    assert.ok(addrs.includes('web') && addrs.includes('shop/web.shop.svc.cluster.local'));
    assert.ok(!addrs.includes('vault') && !addrs.includes('bank/vault.bank.svc.cluster.local'));
    assert.equal(resourcesForProxy(model, proxy, authorizationTypeUrl).size, 0);
  });

  it('gives a waypoint the route and mirror backends of its bound services, with their workloads, though they live in another namespace', () => {
    const m = buildMeshModel(
      inputs(
        namespace('mesh'),
        namespace('shop'),
        waypoint('wp', { ns: 'mesh' }),
        service('web', { labels: { 'istio.io/use-waypoint': 'wp', 'istio.io/use-waypoint-namespace': 'mesh' } }),
        pod('canary', { uid: 'canary', labels: { app: 'canary' } }),
        service('canary', { ip: '10.96.0.30' }),
        service('shadow', { ip: '10.96.0.31' }),
        service('unrelated', { ip: '10.96.0.32' }),
        httpRoute('r', {
          parentRefs: [{ group: '', kind: 'Service', name: 'web' }],
          rules: [
            {
              backendRefs: [{ name: 'canary', port: 80 }],
              filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 } } }],
            },
          ],
        }),
      ),
      opts,
    );
    const addrs = [...resourcesForProxy(m, { type: 'waypoint', namespace: 'mesh', name: 'wp' }, addressTypeUrl).keys()].sort();
    assert.deepEqual(addrs, [
      'canary',
      'mesh/wp.mesh.svc.cluster.local',
      'shop/canary.shop.svc.cluster.local',
      'shop/shadow.shop.svc.cluster.local',
      'shop/web.shop.svc.cluster.local',
    ]);
  });

  it('gives a waypoint whose Gateway does not exist no config', () => {
    assert.equal(resourcesForProxy(model, { type: 'waypoint', namespace: 'bank', name: 'nope' }, waypointConfigTypeUrl).size, 0);
  });

  it('gives the test proxy everything and unknown type URLs nothing', () => {
    assert.equal(resourcesForProxy(model, { type: 'test', namespace: '', name: '' }, waypointConfigTypeUrl).size, 2);
    assert.equal(resourcesForProxy(model, { type: 'test', namespace: '', name: '' }, 'type.googleapis.com/x.Y').size, 0);
  });
});
