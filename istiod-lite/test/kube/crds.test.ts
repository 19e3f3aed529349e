import assert from 'node:assert/strict';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { ensureCrds, readCrds } from '../../src/kube/crds.ts';
import { meshResources } from '../../src/kube/mesh-resources.ts';
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
      'BackendTrafficPolicy',
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

  it("keeps a nested field's x-kubernetes-preserve-unknown-fields: a DestinationRule's trafficPolicy is stored whole (the typed client dropped the key)", async () => {
    await ensureCrds(api.kc);
    const custom = api.kc.makeApiClient(CustomObjectsApi);
    const ref = { group: 'networking.istio.io', version: 'v1', namespace: 'default', plural: 'destinationrules' };
    const trafficPolicy = {
      connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
      outlierDetection: { consecutive5xxErrors: 3 },
    };
    await custom.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'pool' }, spec: { host: 'pool', trafficPolicy } },
    });
    const stored = (await custom.getNamespacedCustomObject({ ...ref, name: 'pool' })) as { spec: { trafficPolicy: object } };
    assert.deepEqual(stored.spec.trafficPolicy, trafficPolicy);
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

  it("watches every kind of the project's own group, at the CRD's plural", () => {
    type Crd = { spec: { group: string; names: { kind: string; plural: string } } };
    const own = (readCrds() as unknown as Crd[]).filter((c) => c.spec.group === 'mesh.ambient.dev');
    assert.ok(own.some((c) => c.spec.names.kind === 'BackendTrafficPolicy'));
    for (const c of own) {
      const r = meshResources.find((m) => m.kind === c.spec.names.kind);
      assert.deepEqual([r?.path, r?.input], [`/apis/mesh.ambient.dev/v1alpha1/${c.spec.names.plural}`, 'extensions'], c.spec.names.kind);
    }
  });

  describe('BackendTrafficPolicy schema', () => {
    const policy = (retryConstraint: object, targetRefs: object[] = [{ group: '', kind: 'Service', name: 'web' }]) =>
      JSON.stringify({
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'BackendTrafficPolicy',
        metadata: { name: `p${Math.random().toString(36).slice(2, 8)}`, namespace: 'default' },
        spec: { targetRefs, retryConstraint },
      });

    it('accepts Gateway API retry constraints and shows them with kubectl', async () => {
      await ensureCrds(api.kc);
      const ok = await kubectl(api, ['create', '-f', '-'], policy({ budget: { percent: 20, interval: '10s' }, minRetryRate: { count: 10, interval: '1s' } }));
      assert.equal(ok.code, 0, ok.stderr);
      const list = await kubectl(api, ['get', 'btp', '-n', 'default']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^NAME\s+ACCEPTED\s+TARGETNAME\s+BUDGET\s+AGE\n\S+\s+web\s+20\s+/);
    });

    const refused: { name: string; retryConstraint: object; targetRefs?: object[]; error: RegExp }[] = [
      { name: 'a percent over 100', retryConstraint: { budget: { percent: 101 } }, error: /spec\.retryConstraint\.budget\.percent.*less than or equal to 100/ },
      { name: 'a negative percent', retryConstraint: { budget: { percent: -1 } }, error: /spec\.retryConstraint\.budget\.percent.*greater than or equal to 0/ },
      {
        name: 'an interval that is not a duration',
        retryConstraint: { budget: { interval: 'ten seconds' } },
        error: /spec\.retryConstraint\.budget\.interval.*should match/,
      },
      {
        name: 'a minimum rate of 0',
        retryConstraint: { minRetryRate: { count: 0 } },
        error: /spec\.retryConstraint\.minRetryRate\.count.*greater than or equal to 1/,
      },
      {
        name: 'a target that is not a Service',
        retryConstraint: {},
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r' }],
        error: /Unsupported value: "HTTPRoute"/,
      },
    ];
    for (const c of refused) {
      it(`refuses ${c.name}`, async () => {
        await ensureCrds(api.kc);
        const r = await kubectl(api, ['create', '-f', '-'], policy(c.retryConstraint, c.targetRefs));
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, c.error);
      });
    }
  });
});
