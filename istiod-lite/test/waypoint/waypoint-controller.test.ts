import assert from 'node:assert/strict';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ensureCrds } from '../../src/kube/crds.ts';
import { defaultMeshOptions, emptyInputs, type KubeObject } from '../../src/model/inputs.ts';
import { findWaypoints, type Waypoint } from '../../src/model/waypoints.ts';
import { WaypointController } from '../../src/waypoint/waypoint-controller.ts';
import { defaultProxyPodOptions } from '../../src/proxy-pod.ts';
import { waypointObjects } from '../../src/waypoint/waypoint-manifests.ts';
import { eventually, kubectl, silent, startEmbeddedApi, type EmbeddedApi } from '../kube/embedded-api.ts';

const gwRef = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'shop', plural: 'gateways' };
const gateway = (name: string, gatewayClassName = 'istio-waypoint') => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name },
  spec: { gatewayClassName, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
});

/** The waypoints the model finds among `gateways`: the one rule the controller deploys from. */
const waypointsOf = (gateways: KubeObject[]): Waypoint[] => [...findWaypoints({ ...emptyInputs(), gateways }, defaultMeshOptions).values()];

describe('waypointObjects', () => {
  const gw: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'wp', namespace: 'shop', uid: 'u1' },
    spec: { gatewayClassName: 'istio-waypoint' },
  };

  it('the model recognizes only istio-waypoint Gateways as waypoints', () => {
    assert.deepEqual(
      waypointsOf([gw]).map((w) => w.name),
      ['wp'],
    );
    assert.deepEqual(waypointsOf([{ ...gw, spec: { gatewayClassName: 'istio' } }]), []);
  });

  it('renders nothing for a Gateway without a uid (nothing could be owned by it)', () => {
    assert.deepEqual(waypointObjects(waypointsOf([{ ...gw, metadata: { name: 'wp', namespace: 'shop' } }])[0]!, defaultProxyPodOptions), []);
  });

  it('renders a ServiceAccount, Deployment and Service owned by the Gateway', () => {
    const [sa, deploy, svc] = waypointObjects(waypointsOf([gw])[0]!, defaultProxyPodOptions);
    assert.deepEqual([sa!.kind, deploy!.kind, svc!.kind], ['ServiceAccount', 'Deployment', 'Service']);
    for (const o of [sa!, deploy!, svc!]) {
      assert.equal(o.metadata?.name, 'wp');
      assert.deepEqual(
        o.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
        [['Gateway', 'wp', 'u1', true]],
      );
    }
    const pod = deploy!.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'wp');
    assert.deepEqual(pod.containers[0].command, ['ambient-waypoint']);
    assert.deepEqual(svc!.spec.selector, { 'gateway.networking.k8s.io/gateway-name': 'wp' });
    assert.deepEqual(svc!.spec.ports, [{ name: 'mesh', port: 15008, targetPort: 15008, protocol: 'TCP' }]);
  });
});

describe('WaypointController', () => {
  let api: EmbeddedApi;
  beforeEach(async () => {
    api = await startEmbeddedApi();
    await ensureCrds(api.kc);
    await api.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'shop' } } });
  });
  afterEach(async () => {
    await api?.close();
  });

  /** The model's waypoints among the Gateways in the API server. */
  async function gateways(): Promise<Waypoint[]> {
    const list = (await api.kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject(gwRef)) as { items: KubeObject[] };
    return waypointsOf(list.items);
  }

  it('creates the ServiceAccount, Deployment and Service of a waypoint, which go away with the Gateway', async () => {
    const custom = api.kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...gwRef, body: gateway('waypoint') });
    await custom.createNamespacedCustomObject({ ...gwRef, body: gateway('ingress', 'istio') });
    const controller = new WaypointController(api.kc, { logger: silent, isLeader: () => true });
    const first = await controller.reconcile(await gateways());
    assert.deepEqual(first, { applied: 4, unchanged: 0, failed: 0, notLeader: false }); // GatewayClass + 3
    assert.equal((await controller.reconcile(await gateways())).unchanged, 4, 'nothing re-applied while unchanged');

    const core = api.kc.makeApiClient(CoreV1Api);
    const apps = api.kc.makeApiClient(AppsV1Api);
    const deploy = await apps.readNamespacedDeployment({ namespace: 'shop', name: 'waypoint' });
    assert.equal(deploy.spec?.replicas ?? 1, 1);
    assert.equal(deploy.metadata?.managedFields?.[0]?.manager, 'istiod-lite');
    await core.readNamespacedServiceAccount({ namespace: 'shop', name: 'waypoint' });
    const svc = await core.readNamespacedService({ namespace: 'shop', name: 'waypoint' });
    assert.ok(svc.spec?.clusterIP, 'the waypoint Service got a ClusterIP');
    await assert.rejects(apps.readNamespacedDeployment({ namespace: 'shop', name: 'ingress' }), 'no Deployment for a non-waypoint Gateway');
    const gc = await kubectl(api, ['get', 'gatewayclass', 'istio-waypoint', '-o', 'jsonpath={.spec.controllerName}']);
    assert.equal(gc.stdout, 'istio.io/mesh-controller');

    await custom.deleteNamespacedCustomObject({ ...gwRef, name: 'waypoint' });
    await eventually('waypoint objects garbage-collected', async () => {
      const left = await kubectl(api, ['get', 'deploy,svc,sa', '-n', 'shop', '-l', 'gateway.networking.k8s.io/gateway-name=waypoint', '-o', 'name']);
      return left.code === 0 && left.stdout.trim() === '';
    });
  });

  it('leaves the replica count to kubectl scale (or an HPA): re-applying never resets it', async () => {
    await api.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...gwRef, body: gateway('waypoint') });
    await new WaypointController(api.kc, { logger: silent, isLeader: () => true }).reconcile(await gateways());
    const scaled = await kubectl(api, ['scale', 'deployment/waypoint', '-n', 'shop', '--replicas', '2']);
    assert.equal(scaled.code, 0, scaled.stderr);
    // A new controller (a restart, or a new leader) applies everything again.
    const again = await new WaypointController(api.kc, { logger: silent, isLeader: () => true }).reconcile(await gateways());
    assert.equal(again.failed, 0);
    const deploy = await api.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: 'shop', name: 'waypoint' });
    assert.equal(deploy.spec?.replicas, 2);
  });

  it('applies nothing while not leading', async () => {
    await api.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...gwRef, body: gateway('waypoint') });
    const controller = new WaypointController(api.kc, { logger: silent, isLeader: () => false });
    assert.equal((await controller.reconcile(await gateways())).notLeader, true);
    await assert.rejects(api.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: 'shop', name: 'waypoint' }));
  });

  it('update() reconciles in the background until stop()', async () => {
    await api.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...gwRef, body: gateway('waypoint') });
    const controller = new WaypointController(api.kc, { logger: silent });
    controller.update(await gateways());
    const apps = api.kc.makeApiClient(AppsV1Api);
    await eventually('waypoint Deployment', () =>
      apps.readNamespacedDeployment({ namespace: 'shop', name: 'waypoint' }).then(
        () => true,
        () => false,
      ),
    );
    controller.stop();
    await api.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...gwRef, body: gateway('second') });
    controller.update(await gateways());
    await new Promise((r) => setTimeout(r, 200));
    await assert.rejects(apps.readNamespacedDeployment({ namespace: 'shop', name: 'second' }));
  });
});
