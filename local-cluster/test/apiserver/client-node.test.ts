// @kubernetes/client-node informers against the embedded API server, across a restart.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, makeInformer, type Informer, type V1ConfigMap } from '@kubernetes/client-node';
import { Store } from '../../src/apiserver/store.ts';
import { call, startTestServer, type TestServer } from './harness.ts';

describe('client-node informers against the api server', function () {
  this.timeout(30_000);
  let t: TestServer;
  let informer: Informer<V1ConfigMap> | undefined;

  beforeEach(async () => {
    t = await startTestServer();
  });
  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
    await t?.cleanup();
  });

  function startInformer(): { seen: string[] } {
    const kc = new KubeConfig();
    kc.loadFromFile(t.server.kubeconfigPath);
    const api = kc.makeApiClient(CoreV1Api);
    const inf = makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => api.listNamespacedConfigMap({ namespace: 'default' }));
    const seen: string[] = [];
    inf.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    inf.on('update', (o) => seen.push(`update ${o.metadata?.name} ${o.data?.k ?? ''}`));
    inf.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    // The documented client-node pattern: an informer stops on a connection error; restart it.
    inf.on('error', () => {
      setTimeout(() => {
        if (informer === inf) void inf.start();
      }, 100).unref();
    });
    informer = inf;
    void inf.start();
    return { seen };
  }

  it('sees adds, updates and deletes', async () => {
    const { seen } = startInformer();
    await waitFor(() => seen.includes('add kube-root-ca.crt'), 'initial list');
    await call(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'one' }, data: { k: '1' } });
    await waitFor(() => seen.includes('add one'), 'add');
    await call(t.server, 'PATCH', '/api/v1/namespaces/default/configmaps/one', { data: { k: '2' } }, { contentType: 'application/merge-patch+json' });
    await waitFor(() => seen.includes('update one 2'), 'update');
    await call(t.server, 'DELETE', '/api/v1/namespaces/default/configmaps/one');
    await waitFor(() => seen.includes('delete one'), 'delete');
  });

  it('recovers after the server restarts on the same port and data dir', async () => {
    const { seen } = startInformer();
    await call(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'before' }, data: { k: '1' } });
    await waitFor(() => seen.includes('add before'), 'add before restart');
    const port = new URL(t.server.url).port;
    await t.server.close();
    // Written while the server is down, straight into its store.
    const offline = new Store({ dir: join(t.dataDir, 'store') });
    offline.put('/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'offline', namespace: 'default', uid: 'u-offline', creationTimestamp: new Date().toISOString() },
      data: { k: 'x' },
    });
    offline.close();
    const restarted = await t.restart();
    assert.equal(new URL(restarted.url).port, port);
    await waitFor(() => seen.includes('add offline'), 'object written while down');
    const got = await call(restarted, 'GET', '/api/v1/namespaces/default/configmaps/before');
    assert.equal(got.json.data.k, '1', 'state survived the restart');
    await call(restarted, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'after' } });
    await waitFor(() => seen.includes('add after'), 'add after restart');
  });
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
