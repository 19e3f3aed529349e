import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ResilientInformer, stripManagedFields, type InformerEvent } from '../../src/kube/resilient-informer.ts';

const silent = pino({ level: 'silent' });
const cm = (name: string, rv: string): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', resourceVersion: rv },
});

/** A stand-in API server on port 0: `onList` answers the list, `onWatch` each watch request. */
async function fakeApi(handlers: {
  onList: (res: ServerResponse) => void;
  onWatch: (req: IncomingMessage, res: ServerResponse) => void;
}): Promise<{ server: Server; kc: KubeConfig; list: () => Promise<KubernetesListObject<KubernetesObject>> }> {
  const server = createServer((req, res) => {
    if (new URL(req.url!, 'http://x').searchParams.get('watch') === 'true') handlers.onWatch(req, res);
    else handlers.onList(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const res = await fetch(`${url}/api/v1/configmaps`);
    // The duck-typed status code client-node's ApiException also carries.
    if (!res.ok) throw Object.assign(new Error(`list: ${res.status}`), { code: res.status });
    return (await res.json()) as KubernetesListObject<KubernetesObject>;
  };
  return { server, kc, list };
}

const listOf = (res: ServerResponse, items: KubernetesObject[], rv = '1'): void => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: rv }, items }));
};

describe('ResilientInformer', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('comes back after a watch fails with a non-410 error (client-node gives up for good)', async () => {
    let watches = 0;
    const events: string[] = [];
    let sawB: () => void = () => {};
    const gotB = new Promise<void>((r) => {
      sawB = r;
    });
    const api = await fakeApi({
      onList: (res) => listOf(res, [cm('a', '1')]),
      onWatch: (_req, res) => {
        if (++watches === 1) {
          res.writeHead(500);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`${JSON.stringify({ type: 'ADDED', object: cm('b', '2') })}\n`);
      },
    });
    server = api.server;
    const informer = new ResilientInformer(api.kc, {
      path: '/api/v1/configmaps',
      list: api.list,
      logger: silent,
      backoffMs: 5,
      onEvent: (event: InformerEvent, obj) => {
        events.push(`${event} ${obj.metadata?.name}`);
        if (obj.metadata?.name === 'b') sawB();
      },
    });
    await informer.start();
    await gotB;
    await informer.stop();
    assert.ok(watches >= 2, 'watched again after the 500');
    assert.deepEqual(events.slice(0, 2), ['add a', 'add b']);
    assert.deepEqual(
      informer
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
      ['a', 'b'],
    );
  });

  it('strips what it is told to from listed and watched objects before they are cached or reported', async () => {
    const managed = (name: string, rv: string): KubernetesObject => ({
      ...cm(name, rv),
      metadata: { ...cm(name, rv).metadata, managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }] },
    });
    let sawB: () => void = () => {};
    const gotB = new Promise<void>((r) => {
      sawB = r;
    });
    const reported: KubernetesObject[] = [];
    const api = await fakeApi({
      onList: (res) => listOf(res, [managed('a', '1')]),
      onWatch: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`${JSON.stringify({ type: 'ADDED', object: managed('b', '2') })}\n`);
      },
    });
    server = api.server;
    const informer = new ResilientInformer(api.kc, {
      path: '/api/v1/configmaps',
      list: api.list,
      logger: silent,
      strip: stripManagedFields,
      onEvent: (_event: InformerEvent, obj) => {
        reported.push(obj);
        if (obj.metadata?.name === 'b') sawB();
      },
    });
    await informer.start();
    await gotB;
    await informer.stop();
    assert.deepEqual(
      reported.map((o) => o.metadata?.name),
      ['a', 'b'],
    );
    for (const o of [...reported, ...informer.list()]) {
      assert.equal(o.metadata?.managedFields, undefined, `${o.metadata?.name} without managedFields`);
      assert.equal(o.metadata?.resourceVersion !== undefined, true, 'the rest of the object is kept');
    }
  });

  it('retries a failed first list and reports synced only once a list succeeded', async () => {
    let lists = 0;
    const api = await fakeApi({
      onList: (res) => {
        if (++lists === 1) {
          res.writeHead(503);
          res.end();
        } else listOf(res, [cm('a', '1')]);
      },
      onWatch: (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders(),
    });
    server = api.server;
    const informer = new ResilientInformer(api.kc, { path: '/api/v1/configmaps', list: api.list, logger: silent, backoffMs: 5, onEvent: () => {} });
    await informer.start();
    assert.equal(informer.synced, false, 'start() resolves after the first attempt without throwing');
    await informer.whenSynced();
    assert.equal(lists, 2);
    assert.equal(informer.get('a', 'default')?.metadata?.name, 'a');
    await informer.stop();
  });

  it('treats a collection that is not served (a CRD not installed yet) as empty and synced when told so', async () => {
    const api = await fakeApi({
      onList: (res) => {
        res.writeHead(404);
        res.end();
      },
      onWatch: (_req, res) => {
        res.writeHead(404);
        res.end();
      },
    });
    server = api.server;
    const informer = new ResilientInformer(api.kc, { path: '/api/v1/configmaps', list: api.list, logger: silent, missingIsEmpty: true, onEvent: () => {} });
    void informer.start();
    await informer.whenSynced();
    assert.deepEqual(informer.list(), []);
    await informer.stop();
  });

  it('aborts a watch whose request was still in flight when stop() was called (client-node leaks it)', async () => {
    let answerWatch: () => void = () => {};
    let watchClosed: () => void = () => {};
    const closed = new Promise<void>((r) => {
      watchClosed = r;
    });
    const watchArrived = new Promise<void>((arrived) => {
      void fakeApi({
        onList: (res) => listOf(res, []),
        onWatch: (req, res) => {
          req.socket.once('close', () => watchClosed());
          answerWatch = () => res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
          arrived();
        },
      }).then(async (api) => {
        server = api.server;
        const informer = new ResilientInformer(api.kc, { path: '/api/v1/configmaps', list: api.list, logger: silent, onEvent: () => {} });
        void informer.start();
        await watchArrived;
        await informer.stop();
        answerWatch();
      });
    });
    await watchArrived;
    await closed;
  });
});
