import assert from 'node:assert/strict';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { ensureCrds, readCrds } from '../../src/kube/crds.ts';
import { kubectl, startEmbeddedApi, type EmbeddedApi } from './embedded-api.ts';
import { createWaypointGateway } from '../waypoint-gateway.ts';

describe('ensureCrds', () => {
  let api: EmbeddedApi;
  before(async () => {
    api = await startEmbeddedApi();
  });
  after(async () => {
    await api?.close();
  });

  it('ships every kind the mesh watches, each with a status subresource', () => {
    const crds = readCrds();
    const kinds = crds.map((c) => (c as { spec: { names: { kind: string } } }).spec.names.kind).sort();
    assert.deepEqual(kinds, [
      'AuthorizationPolicy',
      'DestinationRule',
      'FaultInjectionPolicy',
      'GRPCRoute',
      'Gateway',
      'GatewayClass',
      'HTTPRoute',
      'PeerAuthentication',
      'RateLimitPolicy',
    ]);
    for (const crd of crds as { metadata: { name: string }; spec: { versions: { subresources?: { status?: object } }[] } }[]) {
      assert.ok(
        crd.spec.versions.every((v) => v.subresources?.status),
        `${crd.metadata.name} has a status subresource`,
      );
    }
  });

  it('applies the CRDs idempotently and they are served', async () => {
    const first = await ensureCrds(api.kc);
    const second = await ensureCrds(api.kc);
    assert.deepEqual(second, first);
    const list = await kubectl(api, ['get', 'crd', '-o', 'name']);
    assert.equal(list.code, 0, list.stderr);
    for (const name of first) assert.match(list.stdout, new RegExp(`customresourcedefinition.apiextensions.k8s.io/${name.replaceAll('.', '\\.')}`));
  });

  it('shows the upstream printer columns for a Gateway and an AuthorizationPolicy in kubectl', async () => {
    await ensureCrds(api.kc);
    const custom = api.kc.makeApiClient(CustomObjectsApi);
    await createWaypointGateway(custom, 'default');
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'default',
      plural: 'authorizationpolicies',
      body: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-all' },
        spec: { action: 'DENY', rules: [{}] },
      },
    });
    const gw = await kubectl(api, ['get', 'gateway', '-n', 'default']);
    assert.equal(gw.code, 0, gw.stderr);
    assert.match(gw.stdout, /^NAME\s+CLASS\s+ADDRESS\s+PROGRAMMED\s+AGE\n/);
    assert.match(gw.stdout, /\nwaypoint\s+istio-waypoint\s+/);
    const ap = await kubectl(api, ['get', 'ap', '-n', 'default']);
    assert.equal(ap.code, 0, ap.stderr);
    assert.match(ap.stdout, /^NAME\s+ACTION\s+AGE\n/);
    assert.match(ap.stdout, /\ndeny-all\s+DENY\s+/);
  });

  it('rejects a Gateway without listeners with the schema error', async () => {
    await ensureCrds(api.kc);
    const bad = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'bad', namespace: 'default' },
      spec: { gatewayClassName: 'x' },
    };
    const r = await kubectl(api, ['create', '-f', '-'], JSON.stringify(bad));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.listeners: Required value/);
  });
});
