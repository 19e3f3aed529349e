import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { ensureCrds } from '../../src/kube/crds.ts';
import type { ObjectStatus } from '../../src/model/object-status.ts';
import { StatusWriter } from '../../src/status/status-writer.ts';
import { eventually, kubectl, silent, startEmbeddedApi, type EmbeddedApi } from '../kube/embedded-api.ts';
import { createWaypointGateway } from '../waypoint-gateway.ts';

const programmed = {
  type: 'Programmed',
  status: 'True' as const,
  reason: 'Programmed',
  message: 'Resource programmed, assigned to service(s) waypoint.shop.svc.cluster.local:15008',
  observedGeneration: 1,
};
const gatewayStatus: ObjectStatus = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  namespace: 'shop',
  name: 'waypoint',
  conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Resource accepted' }, programmed],
  gateway: {
    addresses: [{ type: 'IPAddress', value: '10.96.0.20' }],
    listeners: [{ name: 'mesh', attachedRoutes: 0, conditions: [programmed], supportedKinds: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }] }],
  },
};
const policyStatus: ObjectStatus = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  namespace: 'shop',
  name: 'l7-in-l4',
  conditions: [
    {
      type: 'ZtunnelAccepted',
      status: 'True',
      reason: 'UnsupportedValue',
      message:
        'ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.',
    },
  ],
};

describe('StatusWriter', () => {
  let api: EmbeddedApi;
  let custom: CustomObjectsApi;
  beforeEach(async () => {
    api = await startEmbeddedApi();
    await ensureCrds(api.kc);
    await api.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'shop' } } });
    custom = api.kc.makeApiClient(CustomObjectsApi);
    await createWaypointGateway(custom, 'shop');
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'shop',
      plural: 'authorizationpolicies',
      body: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'l7-in-l4' },
        spec: { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
      },
    });
  });
  afterEach(async () => {
    await api?.close();
  });

  it('writes a Gateway condition that kubectl shows in the PROGRAMMED column, and a policy condition in -o yaml', async () => {
    const writer = new StatusWriter(api.kc, { logger: silent, isLeader: () => true });
    const result = await writer.write([gatewayStatus, policyStatus]);
    assert.deepEqual(result, { written: 2, unchanged: 0, missing: 0, failed: 0, notLeader: false });

    const gw = await kubectl(api, ['get', 'gateway', '-n', 'shop']);
    assert.equal(gw.code, 0, gw.stderr);
    assert.match(gw.stdout, /\nwaypoint\s+istio-waypoint\s+10\.96\.0\.20\s+True\s+/);

    const ap = await kubectl(api, ['get', 'authorizationpolicy', 'l7-in-l4', '-n', 'shop', '-o', 'yaml']);
    assert.equal(ap.code, 0, ap.stderr);
    const obj = load(ap.stdout) as { status: { conditions: Record<string, string>[] } };
    const [c] = obj.status.conditions;
    assert.equal(c!.type, 'ZtunnelAccepted');
    assert.equal(c!.reason, 'UnsupportedValue');
    assert.match(c!.message!, /more restrictive than requested/);
    assert.match(c!.lastTransitionTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('does not write again when the object already shows the desired status', async () => {
    const writer = new StatusWriter(api.kc, { logger: silent, isLeader: () => true });
    await writer.write([policyStatus]);
    const read = async () =>
      (await custom.getNamespacedCustomObject({
        group: 'security.istio.io',
        version: 'v1',
        namespace: 'shop',
        plural: 'authorizationpolicies',
        name: 'l7-in-l4',
      })) as { metadata: { resourceVersion: string } };
    const rv = (await read()).metadata.resourceVersion;
    assert.equal((await writer.write([policyStatus])).unchanged, 1);
    const fresh = new StatusWriter(api.kc, { logger: silent, isLeader: () => true }); // no memory: reads and compares
    assert.deepEqual(await fresh.write([policyStatus]), { written: 0, unchanged: 1, missing: 0, failed: 0, notLeader: false });
    assert.equal((await read()).metadata.resourceVersion, rv, 'no write reached the API server');
  });

  it('writes nothing while not leading', async () => {
    let leading = false;
    const writer = new StatusWriter(api.kc, { logger: silent, isLeader: () => leading });
    assert.equal((await writer.write([gatewayStatus])).notLeader, true);
    const gw = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: 'shop',
      plural: 'gateways',
      name: 'waypoint',
    })) as { status?: unknown };
    assert.equal(gw.status, undefined);
    leading = true;
    assert.equal((await writer.write([gatewayStatus])).written, 1);
  });

  it('skips objects that do not exist and still writes the rest', async () => {
    const writer = new StatusWriter(api.kc, { logger: silent, isLeader: () => true });
    const ghost: ObjectStatus = { ...policyStatus, name: 'ghost' };
    const badKind: ObjectStatus = { ...policyStatus, apiVersion: 'example.com/v1', kind: 'Nope' };
    assert.deepEqual(await writer.write([ghost, badKind, policyStatus]), { written: 1, unchanged: 0, missing: 1, failed: 1, notLeader: false });
  });

  it('writes istio.io/WaypointBound on a Service through its status subresource', async () => {
    const core = api.kc.makeApiClient(CoreV1Api);
    await core.createNamespacedService({ namespace: 'shop', body: { metadata: { name: 'reviews' }, spec: { ports: [{ port: 9080 }] } } });
    const writer = new StatusWriter(api.kc, { logger: silent, isLeader: () => true });
    const bound: ObjectStatus = {
      apiVersion: 'v1',
      kind: 'Service',
      namespace: 'shop',
      name: 'reviews',
      conditions: [{ type: 'istio.io/WaypointBound', status: 'True', reason: 'Bound', message: 'bound to shop/waypoint' }],
    };
    assert.equal((await writer.write([bound])).written, 1);
    const svc = await kubectl(api, ['get', 'svc', 'reviews', '-n', 'shop', '-o', 'jsonpath={.status.conditions[0].type}={.status.conditions[0].status}']);
    assert.equal(svc.stdout, 'istio.io/WaypointBound=True');
  });

  it('update() writes the newest model in the background; nothing after stop()', async () => {
    const writer = new StatusWriter(api.kc, { logger: silent });
    const read = async () =>
      (
        (await custom.getNamespacedCustomObject({
          group: 'security.istio.io',
          version: 'v1',
          namespace: 'shop',
          plural: 'authorizationpolicies',
          name: 'l7-in-l4',
        })) as { status?: { conditions?: { reason: string }[] } }
      ).status;
    writer.update([{ ...policyStatus, conditions: [{ ...policyStatus.conditions[0]!, reason: 'Old' }] }]);
    writer.update([policyStatus]); // supersedes the pending one
    await eventually('policy status written', async () => (await read())?.conditions?.[0]?.reason === 'UnsupportedValue');
    writer.stop();
    writer.update([{ ...policyStatus, conditions: [{ ...policyStatus.conditions[0]!, reason: 'AfterStop' }] }]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await read())?.conditions?.[0]?.reason, 'UnsupportedValue');
  });
});
