import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { mergePatch } from '@ambient/api/kube';
import { ensureCrds } from '../../src/kube/crds.ts';
import { MeshSources } from '../../src/kube/mesh-sources.ts';
import { eventually, silent, startApiProcess, startEmbeddedApi, type EmbeddedApi } from './embedded-api.ts';

function pod(name: string, node: string, sa = 'default'): V1Pod {
  return { metadata: { name, namespace: 'shop' }, spec: { nodeName: node, serviceAccountName: sa, containers: [{ name: 'app', image: 'x' }] } };
}

const ap = (action: string) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'deny-all', namespace: 'shop' },
  spec: { action, rules: [{}] },
});
const apRef = { group: 'security.istio.io', version: 'v1', namespace: 'shop', plural: 'authorizationpolicies' };

describe('MeshSources', () => {
  let api: EmbeddedApi;
  let sources: MeshSources | undefined;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;

  beforeEach(async () => {
    api = await startEmbeddedApi();
    await ensureCrds(api.kc);
    core = api.kc.makeApiClient(CoreV1Api);
    custom = api.kc.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } } });
  });
  afterEach(async () => {
    await sources?.stop();
    sources = undefined;
    await api?.close();
  });

  it('lists what exists before start, as wire JSON with apiVersion and kind', async () => {
    await core.createNamespacedPod({ namespace: 'shop', body: pod('a', 'node-1') });
    sources = new MeshSources(api.kc, { logger: silent });
    await sources.start();
    const snap = sources.snapshot();
    const a = snap.pods.find((p) => p.metadata?.name === 'a');
    assert.ok(a, 'pod a is in the snapshot');
    assert.equal(a.kind, 'Pod');
    assert.equal(a.apiVersion, 'v1');
    assert.equal(typeof a.metadata?.creationTimestamp, 'string', 'timestamps stay strings as on the wire');
    assert.ok(snap.namespaces.some((n) => n.metadata?.name === 'shop'));
    assert.ok(snap.services.some((s) => s.metadata?.name === 'kubernetes'));
    assert.deepEqual(snap.authorizationPolicies, []);
  });

  it('sees pods added, updated and deleted, and indexes them by node for the CA', async () => {
    sources = new MeshSources(api.kc, { logger: silent });
    const kinds: string[] = [];
    sources.onChange((k) => kinds.push(...k));
    await sources.start();

    await core.createNamespacedPod({ namespace: 'shop', body: pod('a', 'node-1', 'reviews') });
    await core.createNamespacedPod({ namespace: 'shop', body: pod('b', 'node-2') });
    await eventually('both pods', () => sources!.snapshot().pods.length === 2);
    assert.deepEqual(
      sources.podsOnNode('node-1').map((p) => [p.namespace, p.name, p.serviceAccount]),
      [['shop', 'a', 'reviews']],
    );
    assert.deepEqual(
      sources.podsOnNode('node-2').map((p) => p.name),
      ['b'],
    );
    assert.deepEqual(sources.podsOnNode('node-3'), []);
    assert.ok(kinds.includes('Pod'));

    await core.patchNamespacedPodStatus({ namespace: 'shop', name: 'a', body: { status: { phase: 'Running', podIP: '10.244.1.5' } } }, mergePatch);
    await eventually('pod a running', () => sources!.podByName('shop', 'a')?.phase === 'Running');
    assert.equal(sources.podsOnNode('node-1')[0]!.phase, 'Running');

    await core.deleteNamespacedPod({ namespace: 'shop', name: 'a', gracePeriodSeconds: 0 });
    await eventually('pod a gone', () => sources!.podByName('shop', 'a') === undefined);
    assert.deepEqual(sources.podsOnNode('node-1'), []);
    assert.deepEqual(
      sources.snapshot().pods.map((p) => p.metadata?.name),
      ['b'],
    );
  });

  it('sees an AuthorizationPolicy added, updated and deleted', async () => {
    sources = new MeshSources(api.kc, { logger: silent });
    const kinds = new Set<string>();
    sources.onChange((k, seenAt) => {
      assert.equal(typeof seenAt, 'number');
      for (const kind of k) kinds.add(kind);
    });
    await sources.start();
    await custom.createNamespacedCustomObject({ ...apRef, body: ap('DENY') });
    await eventually('policy added', () => sources!.snapshot().authorizationPolicies[0]?.spec?.action === 'DENY');
    assert.ok(kinds.has('AuthorizationPolicy'));
    await custom.patchNamespacedCustomObject({ ...apRef, name: 'deny-all', body: { spec: { action: 'ALLOW' } } }, mergePatch);
    await eventually('policy updated', () => sources!.snapshot().authorizationPolicies[0]?.spec?.action === 'ALLOW');
    await custom.deleteNamespacedCustomObject({ ...apRef, name: 'deny-all' });
    await eventually('policy deleted', () => sources!.snapshot().authorizationPolicies.length === 0);
  });

  it('keeps the last state while the API server is down and resyncs after it comes back', async function () {
    this.timeout(30_000);
    const proc = await startApiProcess();
    const s = new MeshSources(proc.kc, { logger: silent, resyncBackoffMs: 50 });
    try {
      await ensureCrds(proc.kc);
      const pcore = proc.kc.makeApiClient(CoreV1Api);
      const pcustom = proc.kc.makeApiClient(CustomObjectsApi);
      await pcore.createNamespace({ body: { metadata: { name: 'shop' } } });
      await pcore.createNamespacedPod({ namespace: 'shop', body: pod('a', 'node-1') });
      await s.start();
      assert.equal(s.snapshot().pods.length, 1);

      await proc.kill();
      await sleep(300); // informers see the connection drop and start retrying
      assert.deepEqual(
        s.snapshot().pods.map((p) => p.metadata?.name),
        ['a'],
        'the cache survives the outage',
      );
      assert.equal(s.podsOnNode('node-1').length, 1);

      await proc.restart();
      await pcore.createNamespacedPod({ namespace: 'shop', body: pod('b', 'node-2') });
      await pcore.deleteNamespacedPod({ namespace: 'shop', name: 'a', gracePeriodSeconds: 0 });
      await pcustom.createNamespacedCustomObject({ ...apRef, body: ap('DENY') });
      await eventually(
        'resynced pods',
        () =>
          s
            .snapshot()
            .pods.map((p) => p.metadata?.name)
            .join() === 'b',
        10_000,
      );
      await eventually('resynced policy', () => s.snapshot().authorizationPolicies.length === 1, 10_000);
      assert.deepEqual(s.podsOnNode('node-1'), []);
    } finally {
      await s.stop();
      await proc.close();
    }
  });

  it('treats a collection whose CRD is missing as empty instead of failing to start', async () => {
    await custom.createNamespacedCustomObject({ ...apRef, body: ap('DENY') }); // CRDs are installed here...
    const other = await startEmbeddedApi(); // ...but not in this fresh server
    try {
      const s = new MeshSources(other.kc, { logger: silent, resyncBackoffMs: 50 });
      try {
        await s.start();
        assert.deepEqual(s.snapshot().gateways, []);
        assert.deepEqual(s.snapshot().authorizationPolicies, []);
        assert.ok(s.snapshot().namespaces.length > 0);
      } finally {
        await s.stop();
      }
    } finally {
      await other.close();
    }
  });
});
