// Wire behaviour of the API server over HTTPS: auth, concurrency, watch, validation,
// lifecycle and ServiceAccount tokens.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { generateKeyPairSync } from 'node:crypto';
import { reviewToken, type SigningKey } from '../../src/apiserver/service-account-tokens.ts';
import { keyId, signJwt, verifyJwt } from '../../src/apiserver/jwt.ts';
import type { ApiServer } from '../../src/apiserver/index.ts';
import { call, startTestServer, type TestServer } from './harness.ts';

const CM = '/api/v1/namespaces/default/configmaps';

describe('api server over https', function () {
  this.timeout(30_000);
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.cleanup();
  });

  it('answers health without a token and 401 Unauthorized without one elsewhere', async () => {
    assert.equal((await call(t.server, 'GET', '/healthz', undefined, { token: '' })).text, 'ok');
    const r = await call(t.server, 'GET', CM, undefined, { token: '' });
    assert.equal(r.status, 401);
    assert.equal(r.json.reason, 'Unauthorized');
    assert.equal((await call(t.server, 'GET', CM, undefined, { token: 'wrong' })).status, 401);
  });

  it('rejects an update with a stale resourceVersion with 409 Conflict', async () => {
    const created = (await call(t.server, 'POST', CM, { metadata: { name: 'occ' }, data: { v: '1' } })).json;
    const ok = await call(t.server, 'PUT', `${CM}/occ`, { ...created, data: { v: '2' } });
    assert.equal(ok.status, 200);
    const stale = await call(t.server, 'PUT', `${CM}/occ`, { ...created, data: { v: '3' } });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.reason, 'Conflict');
    assert.equal((await call(t.server, 'GET', `${CM}/occ`)).json.data.v, '2', 'nothing stored was lost');
  });

  it('sends 410 Expired for a watch from a resourceVersion older than the history', async () => {
    for (let i = 0; i < 10_001; i++) t.server.store.put('/events', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'churn', namespace: 'default' } });
    const r = await call(t.server, 'GET', `${CM}?watch=true&resourceVersion=1`);
    const event = JSON.parse(r.text.trim());
    assert.equal(event.type, 'ERROR');
    assert.equal(event.object.code, 410);
    assert.equal(event.object.reason, 'Expired');
  });

  it('turns selector transitions into ADDED/DELETED and resumes from a resourceVersion', async () => {
    const start = (await call(t.server, 'GET', CM)).json.metadata.resourceVersion;
    await call(t.server, 'POST', CM, { metadata: { name: 'sel', labels: { app: 'a' } } });
    await call(t.server, 'PATCH', `${CM}/sel`, { metadata: { labels: { app: 'b' } } }, { contentType: 'application/merge-patch+json' });
    await call(t.server, 'PATCH', `${CM}/sel`, { metadata: { labels: { app: 'a' } } }, { contentType: 'application/merge-patch+json' });
    const events = await watchLines(t.server, `${CM}?watch=true&labelSelector=app%3Da&resourceVersion=${start}&timeoutSeconds=1`);
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.object.metadata.labels.app}`),
      ['ADDED a', 'DELETED b', 'ADDED a'],
    );
  });

  it('validates CRD-served objects with 422 and causes, and prunes unknown fields', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gadgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'gadgets', kind: 'Gadget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { replicas: { type: 'integer' } } } } } },
          },
        ],
      },
    };
    assert.equal((await call(t.server, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
    const discovery = (await call(t.server, 'GET', '/apis/example.com/v1')).json;
    assert.deepEqual(
      discovery.resources.map((r: { name: string }) => r.name),
      ['gadgets'],
    );
    const path = '/apis/example.com/v1/namespaces/default/gadgets';
    const bad = await call(t.server, 'POST', path, { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { replicas: 'two' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.json.reason, 'Invalid');
    assert.deepEqual(
      bad.json.details.causes.map((c: { field: string }) => c.field),
      ['spec.replicas'],
    );
    const good = await call(t.server, 'POST', path, {
      apiVersion: 'example.com/v1',
      kind: 'Gadget',
      metadata: { name: 'g' },
      spec: { replicas: 2, extra: true },
    });
    assert.equal(good.status, 201);
    assert.deepEqual(good.json.spec, { replicas: 2 });
    const smp = await call(t.server, 'PATCH', `${path}/g`, { spec: { replicas: 3 } }, { contentType: 'application/strategic-merge-patch+json' });
    assert.equal(smp.status, 415);
    await call(t.server, 'DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com');
    assert.equal((await call(t.server, 'GET', '/apis/example.com/v1')).status, 404, 'gone from discovery');
  });

  it("pages a list with limit and continue, every page at the first one's resourceVersion", async () => {
    const s = t.server;
    assert.equal((await call(s, 'POST', '/api/v1/namespaces', { metadata: { name: 'paged' } })).status, 201);
    const names = ['e', 'a', 'd', 'b', 'c'];
    for (const name of names) assert.equal((await call(s, 'POST', '/api/v1/namespaces/paged/configmaps', { metadata: { name } })).status, 201);
    const seen: string[] = [];
    const pages: Array<{ continue?: string; remainingItemCount?: number; resourceVersion: string }> = [];
    let next = '';
    for (let i = 0; i < 8; i++) {
      const r = await call(s, 'GET', `/api/v1/namespaces/paged/configmaps?limit=2${next ? `&continue=${next}` : ''}`);
      assert.equal(r.status, 200, r.text);
      seen.push(...r.json.items.map((o: { metadata: { name: string } }) => o.metadata.name));
      pages.push(r.json.metadata);
      next = r.json.metadata.continue ?? '';
      if (!next) break;
      // Created between pages: after the first page's snapshot would hide it; this server
      // shows later pages as they are, so it appears (documented in list-pages.ts).
      if (i === 0) await call(s, 'POST', '/api/v1/namespaces/paged/configmaps', { metadata: { name: 'f' } });
    }
    // kube-root-ca.crt is the one the namespace came with.
    assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'e', 'f', 'kube-root-ca.crt']);
    assert.deepEqual(
      pages.map((p) => p.remainingItemCount),
      [4, 3, 1, undefined],
    );
    assert.equal(new Set(pages.map((p) => p.resourceVersion)).size, 1);
    // A selector hides the count of the unfiltered rest, as in Kubernetes.
    const selected = await call(s, 'GET', '/api/v1/namespaces/paged/configmaps?limit=1&fieldSelector=metadata.name!=a');
    assert.equal(selected.json.items[0].metadata.name, 'b');
    assert.ok(selected.json.metadata.continue);
    assert.equal(selected.json.metadata.remainingItemCount, undefined);
    const forged = await call(s, 'GET', '/api/v1/namespaces/paged/configmaps?limit=1&continue=bm90LWEtdG9rZW4');
    assert.equal(forged.status, 400);
    assert.match(forged.json.message, /continue key is not valid/);
    assert.equal((await call(s, 'GET', '/api/v1/namespaces/paged/configmaps?limit=-1')).status, 400);
  });

  it('allocates ClusterIPs and refuses one outside the range with 422', async () => {
    const svc = (name: string, clusterIP?: string) => ({ metadata: { name }, spec: { clusterIP, ports: [{ port: 80 }] } });
    const a = (await call(t.server, 'POST', '/api/v1/namespaces/default/services', svc('a'))).json;
    assert.match(a.spec.clusterIP, /^10\.96\.\d+\.\d+$/);
    assert.equal(a.spec.ports[0].targetPort, 80);
    const outside = await call(t.server, 'POST', '/api/v1/namespaces/default/services', svc('b', '10.97.0.5'));
    assert.equal(outside.status, 422);
    const taken = await call(t.server, 'POST', '/api/v1/namespaces/default/services', svc('c', a.spec.clusterIP));
    assert.equal(taken.status, 422);
  });

  it('deletes a namespace with its content, honours finalizers and collects dependents', async () => {
    await call(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: 'shop' } });
    const sa = await call(t.server, 'GET', '/api/v1/namespaces/shop/serviceaccounts/default');
    assert.equal(sa.status, 200, 'default ServiceAccount created with the namespace');
    const owner = (await call(t.server, 'POST', '/api/v1/namespaces/shop/configmaps', { metadata: { name: 'owner' } })).json;
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid };
    await call(t.server, 'POST', '/api/v1/namespaces/shop/configmaps', { metadata: { name: 'child', ownerReferences: [ref] } });
    await call(t.server, 'DELETE', '/api/v1/namespaces/shop/configmaps/owner');
    assert.equal((await call(t.server, 'GET', '/api/v1/namespaces/shop/configmaps/child')).status, 404, 'dependent collected');

    await call(t.server, 'POST', '/api/v1/namespaces/shop/configmaps', { metadata: { name: 'held', finalizers: ['example.com/hold'] } });
    const ns = await call(t.server, 'DELETE', '/api/v1/namespaces/shop');
    assert.equal(ns.json.status.phase, 'Terminating');
    const held = (await call(t.server, 'GET', '/api/v1/namespaces/shop/configmaps/held')).json;
    assert.ok(held.metadata.deletionTimestamp);
    assert.equal((await call(t.server, 'POST', '/api/v1/namespaces/shop/configmaps', { metadata: { name: 'late' } })).status, 403);
    await call(t.server, 'PATCH', '/api/v1/namespaces/shop/configmaps/held', [{ op: 'remove', path: '/metadata/finalizers' }], {
      contentType: 'application/json-patch+json',
    });
    assert.equal((await call(t.server, 'GET', '/api/v1/namespaces/shop')).status, 404, 'namespace gone once empty');
  });

  // Regression (hardening item 9): TokenRequest minted a token bound to any pod for any
  // ServiceAccount, so whoever could call it could get, e.g., a ztunnel token bound to another
  // workload's pod (and its node). The real API server refuses a pod running as another account.
  it('refuses to bind a token to a pod that runs as another ServiceAccount', async () => {
    await call(t.server, 'POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'web' } });
    await call(t.server, 'POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'ztunnel' } });
    const pod = (
      await call(t.server, 'POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'web-1' },
        spec: { serviceAccountName: 'web', containers: [{ name: 'c', image: 'x:1' }] },
      })
    ).json;
    const bind = (sa: string) =>
      call(t.server, 'POST', `/api/v1/namespaces/default/serviceaccounts/${sa}/token`, {
        spec: { expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web-1', uid: pod.metadata.uid } },
      });
    const refused = await bind('ztunnel');
    assert.equal(refused.status, 400);
    assert.equal(refused.json.message, 'cannot bind token for serviceaccount "ztunnel" to pod running with different serviceaccount name.');
    assert.equal((await bind('web')).status, 201, 'its own account still gets one');
  });

  it('issues bound ServiceAccount tokens that TokenReview and the API accept', async () => {
    await call(t.server, 'POST', '/api/v1/nodes', { metadata: { name: 'node-1' } });
    const pod = (
      await call(t.server, 'POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'p' },
        spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'x:1' }] },
      })
    ).json;
    const tr = await call(t.server, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
      spec: { audiences: ['istio-ca'], expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: pod.metadata.uid } },
    });
    assert.equal(tr.status, 201);
    const token: string = tr.json.status.token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    assert.equal(claims.sub, 'system:serviceaccount:default:default');
    assert.deepEqual(claims.aud, ['istio-ca']);
    assert.equal(claims['kubernetes.io'].node.name, 'node-1');

    const review = async (tok: string, audiences?: string[]) =>
      (
        await call(t.server, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token: tok, audiences },
        })
      ).json.status;
    const ok = await review(token, ['istio-ca']);
    assert.equal(ok.authenticated, true);
    assert.equal(ok.user.username, 'system:serviceaccount:default:default');
    assert.ok(ok.user.groups.includes('system:serviceaccounts:default'));
    assert.deepEqual(ok.user.extra['authentication.kubernetes.io/node-name'], ['node-1']);
    assert.deepEqual(ok.user.extra['authentication.kubernetes.io/pod-name'], ['p']);
    const wrongAud = await review(token, ['other']);
    assert.equal(wrongAud.authenticated, undefined);
    assert.match(wrongAud.error, /audiences/);
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.match((await review(tampered, ['istio-ca'])).error, /signature/);

    const apiToken = (await call(t.server, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', { spec: {} })).json.status.token;
    // Discovery is every authenticated caller's (system:discovery); the ConfigMaps need a binding.
    assert.equal((await call(t.server, 'GET', '/api/v1', undefined, { token: apiToken })).status, 200, 'a ServiceAccount token authenticates API calls');
    assert.equal((await call(t.server, 'GET', CM, undefined, { token: apiToken })).status, 403, 'and is authorized by RBAC');
    await call(t.server, 'DELETE', '/api/v1/namespaces/default/pods/p');
    assert.match((await review(token, ['istio-ca'])).error, /pod default\/p has been deleted/);
  });
});

describe('service account token review', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key: SigningKey = { privateKey, publicKey, kid: keyId(publicKey) };
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'ns', uid: 'sa-uid' } };
  const lookup = { serviceAccount: () => sa, pod: () => undefined };
  const now = new Date('2030-01-01T00:00:00Z');
  const claims = (exp: number) => ({
    iss: 'https://kubernetes.default.svc.cluster.local',
    aud: ['x'],
    exp,
    iat: 0,
    nbf: 0,
    sub: 'system:serviceaccount:ns:sa',
    'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'sa', uid: 'sa-uid' } },
  });

  it('accepts a token within its lifetime and rejects it after expiry', () => {
    const exp = now.getTime() / 1000 + 600;
    const token = signJwt(claims(exp), privateKey, key.kid);
    assert.equal(reviewToken(token, { key, audiences: ['x'], now, lookup }).authenticated, true);
    const later = new Date((exp + 1) * 1000);
    assert.deepEqual(reviewToken(token, { key, audiences: ['x'], now: later, lookup }), {
      authenticated: false,
      error: 'invalid bearer token: token has expired',
    });
  });

  it('rejects a token signed by another key', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const token = signJwt(claims(now.getTime() / 1000 + 600), other, key.kid);
    assert.throws(() => verifyJwt(token, publicKey), /invalid token signature/);
    assert.equal(reviewToken(token, { key, audiences: ['x'], now, lookup }).authenticated, false);
  });
});

/** Reads a whole (time-limited) watch stream as events. */
async function watchLines(server: ApiServer, path: string): Promise<any[]> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(new URL(path, server.url), { headers: { authorization: `Bearer ${server.adminToken}` }, ca: server.caCertPem, agent: false }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString()));
      res.on('end', () => resolve(s));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('watch timed out')));
    req.end();
  });
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
