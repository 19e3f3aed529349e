// Admission webhooks end to end: the embedded API server calls a real HTTPS webhook server
// (its own CA, 127.0.0.1:0) when the real kubectl and @kubernetes/client-node write objects.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { capturingLogger } from '@ambient/api/testing';
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { call, KUBECTL_VERSIONS, kubectl, startTestServer, type TestServer } from './harness.ts';

type Review = { request: Record<string, any> };
type Answer = Record<string, unknown> | 'hang';

/** A webhook server: answers per path with `routes`, remembers every review it received. */
interface WebhookServer {
  port: number;
  caBundle: string;
  received: { path: string; review: Review }[];
  routes: Map<string, (review: Review) => Answer>;
  close(): Promise<void>;
}

async function startWebhookServer(names: { dnsNames?: string[]; ipAddresses?: string[] } = { ipAddresses: ['127.0.0.1'] }): Promise<WebhookServer> {
  const ca = createCertificateAuthority({ commonName: 'webhook-test-ca', validityDays: 1 });
  const serving = issueCertificate({ ca, commonName: 'webhook', ...names, validityDays: 1 });
  const sockets = new Set<Socket>();
  const hook: Partial<WebhookServer> = { caBundle: Buffer.from(ca.certPem).toString('base64'), received: [], routes: new Map() };
  const server: Server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'https://x').pathname;
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
      hook.received!.push({ path, review });
      const route = hook.routes!.get(path);
      const answer = route ? route(review) : { uid: review.request.uid, allowed: true };
      if (answer === 'hang') return; // never answers; the socket is destroyed on close
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: answer }));
    });
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook.port = (server.address() as AddressInfo).port;
  hook.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return hook as WebhookServer;
}

const allow = (review: Review, extra: Record<string, unknown> = {}) => ({ uid: review.request.uid, allowed: true, ...extra });
const jsonPatch = (ops: unknown[]) => ({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') });
const SIDECAR = { name: 'istio-proxy', image: 'proxyv2' };
/** The injector the tests register at /inject: appends the sidecar container. */
const inject = (review: Review) => allow(review, jsonPatch([{ op: 'add', path: '/spec/containers/-', value: SIDECAR }]));

const POD_RULES = [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }];
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const VWC = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

describe('admission webhooks (embedded API server → a real HTTPS webhook server)', function () {
  this.timeout(60_000);
  let t: TestServer;
  let hook: WebhookServer;
  let closedPort: number;
  let kc: KubeConfig;
  const log = capturingLogger('warn');

  /** A webhook entry calling `path` on the test webhook server (or another URL). */
  const webhook = (name: string, path: string, extra: Record<string, unknown> = {}) => ({
    name,
    clientConfig: { url: `https://127.0.0.1:${hook.port}${path}`, caBundle: hook.caBundle },
    rules: POD_RULES,
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    ...extra,
  });
  const register = async (collection: string, name: string, webhooks: unknown[]): Promise<void> => {
    const kind = collection === MWC ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration';
    const reply = await call(t.server, 'POST', collection, { apiVersion: 'admissionregistration.k8s.io/v1', kind, metadata: { name }, webhooks });
    assert.equal(reply.status, 201, reply.text);
  };
  const createPod = (ns: string, name: string, labels: Record<string, string> = {}) =>
    call(t.server, 'POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name, labels }, spec: { containers: [{ name: 'app', image: 'busybox' }] } });
  const containers = (pod: V1Pod | { spec?: { containers?: { name: string }[] } }): string[] => (pod.spec?.containers ?? []).map((c) => c.name);
  const podFile = (name: string, ns: string): string => {
    const p = join(t.dataDir, `${name}.yaml`);
    writeFileSync(p, `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  containers: [{name: app, image: busybox}]\n`);
    return p;
  };

  before(async () => {
    t = await startTestServer({ logger: log.logger });
    hook = await startWebhookServer();
    hook.routes.set('/inject', inject);
    const spare = await startWebhookServer();
    closedPort = spare.port;
    await spare.close(); // nothing listens there any more: connection refused
    for (const [ns, labels] of [
      ['injected', { 'sidecar-injection': 'enabled' }],
      ['plain', {}],
      ['hooks', {}],
    ] as const) {
      assert.equal((await call(t.server, 'POST', '/api/v1/namespaces', { metadata: { name: ns, labels } })).status, 201);
    }
    kc = new KubeConfig();
    kc.loadFromFile(t.server.kubeconfigPath);
  });
  afterEach(async () => {
    await call(t.server, 'DELETE', MWC);
    await call(t.server, 'DELETE', VWC);
    for (const ns of ['injected', 'plain', 'hooks']) await call(t.server, 'DELETE', `/api/v1/namespaces/${ns}/pods`);
    hook.received.length = 0;
    log.lines.length = 0;
  });
  after(async () => {
    await hook?.close();
    await t?.cleanup();
  });

  for (const version of KUBECTL_VERSIONS) {
    it(`serves webhook configurations to kubectl ${version}: apply, get with the Webhooks column and defaults, describe, delete`, async () => {
      const file = join(t.dataDir, 'mwc.yaml');
      writeFileSync(
        file,
        `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: sidecar-injector}
webhooks:
- name: inject.sidecar.example.com
  clientConfig: {url: "https://127.0.0.1:${hook.port}/inject", caBundle: ${hook.caBundle}}
  # scope given: kube defaults it into this atomic list, and kubectl apply would see drift (as against a real cluster)
  rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: "*"}]
  namespaceSelector: {matchLabels: {sidecar-injection: enabled}}
  sideEffects: None
  admissionReviewVersions: [v1]
`,
      );
      const k = (...args: string[]) => kubectl(version, t.server, args);
      const applied = await k('apply', '-f', file);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /mutatingwebhookconfiguration.admissionregistration.k8s.io\/sidecar-injector created/);
      const table = await k('get', 'mutatingwebhookconfigurations');
      assert.match(table.stdout, /^NAME\s+WEBHOOKS\s+AGE\n/);
      assert.match(table.stdout, /\nsidecar-injector\s+1\s+\d+s\n/);
      const yaml = (await k('get', 'mutatingwebhookconfiguration', 'sidecar-injector', '-o', 'yaml')).stdout;
      for (const line of ['failurePolicy: Fail', 'matchPolicy: Equivalent', 'timeoutSeconds: 10', 'reinvocationPolicy: Never', 'objectSelector: {}']) {
        assert.ok(yaml.includes(line), `${line} in\n${yaml}`);
      }
      const described = await k('describe', 'mutatingwebhookconfiguration', 'sidecar-injector');
      assert.equal(described.code, 0, described.stderr);
      assert.match(described.stdout, /inject\.sidecar\.example\.com/);
      assert.match((await k('apply', '-f', file)).stdout, /unchanged/);
      assert.equal((await k('get', 'validatingwebhookconfigurations')).code, 0);
      assert.match((await k('delete', '-f', file)).stdout, /deleted/);
    });

    it(`injects the sidecar into a pod kubectl ${version} creates in a namespace the namespaceSelector selects, and only there`, async () => {
      await register(MWC, 'injector', [
        webhook('inject.sidecar.example.com', '/inject', { namespaceSelector: { matchLabels: { 'sidecar-injection': 'enabled' } } }),
      ]);
      const k = (...args: string[]) => kubectl(version, t.server, args);
      assert.equal((await k('apply', '-f', podFile('web', 'injected'))).code, 0);
      assert.equal((await k('get', 'pod', 'web', '-n', 'injected', '-o', 'jsonpath={.spec.containers[*].name}')).stdout, 'app istio-proxy');
      assert.equal(hook.received.length, 1);
      assert.equal((await k('apply', '-f', podFile('web', 'plain'))).code, 0);
      assert.equal((await k('get', 'pod', 'web', '-n', 'plain', '-o', 'jsonpath={.spec.containers[*].name}')).stdout, 'app');
      assert.equal(hook.received.length, 1, 'the webhook was not called for the namespace it does not select');
    });

    it(`refuses a pod kubectl ${version} creates when a Fail webhook cannot be reached, with kube's message`, async () => {
      const url = `https://127.0.0.1:${closedPort}/inject`;
      await register(MWC, 'injector', [webhook('inject.sidecar.example.com', '/inject', { clientConfig: { url, caBundle: hook.caBundle } })]);
      const created = await kubectl(version, t.server, ['apply', '-f', podFile('web', 'plain')]);
      assert.notEqual(created.code, 0);
      assert.match(
        created.stderr,
        new RegExp(
          `Error from server \\(InternalError\\): error when creating ".*web.yaml": Internal error occurred: failed calling webhook "inject.sidecar.example.com": failed to call webhook: Post "https://127.0.0.1:${closedPort}/inject\\?timeout=10s": dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
        ),
      );
      assert.equal((await call(t.server, 'GET', '/api/v1/namespaces/plain/pods/web')).status, 404);
    });
  }

  it('injects the sidecar into a pod client-node creates, and sends the AdmissionReview kube sends', async () => {
    await register(MWC, 'injector', [
      webhook('inject.sidecar.example.com', '/inject', { namespaceSelector: { matchLabels: { 'sidecar-injection': 'enabled' } } }),
    ]);
    const core = kc.makeApiClient(CoreV1Api);
    const pod = await core.createNamespacedPod({
      namespace: 'injected',
      body: { metadata: { name: 'api', labels: { app: 'api' } }, spec: { containers: [{ name: 'app', image: 'busybox' }] } },
    });
    assert.deepEqual(containers(pod), ['app', 'istio-proxy']);
    // Defaulted after the patch, like any container.
    assert.equal(pod.spec?.containers[1]?.terminationMessagePolicy, 'File');
    assert.equal(hook.received.length, 1);
    const { request } = hook.received[0]!.review;
    assert.match(request.uid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(request.kind, { group: '', version: 'v1', kind: 'Pod' });
    assert.deepEqual(request.resource, { group: '', version: 'v1', resource: 'pods' });
    assert.deepEqual(request.requestKind, request.kind);
    assert.deepEqual(request.requestResource, request.resource);
    assert.equal(request.subResource, undefined);
    assert.equal(request.operation, 'CREATE');
    assert.equal(request.namespace, 'injected');
    assert.equal(request.name, 'api');
    assert.equal(request.userInfo.username, 'admin');
    assert.ok(request.userInfo.groups.includes('system:masters'));
    assert.equal(request.object.metadata.name, 'api');
    assert.equal(request.object.metadata.namespace, 'injected');
    assert.deepEqual(request.object.metadata.labels, { app: 'api' });
    assert.deepEqual(containers(request.object), ['app']);
    assert.equal(request.oldObject, null);
    assert.equal(request.dryRun, false);
    assert.deepEqual(request.options, { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' });
  });

  it('sends an update with its old object, and the requesting user (a ServiceAccount)', async () => {
    await register(MWC, 'watcher', [
      webhook('watch.example.com', '/allow', { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }] }),
    ]);
    assert.equal((await call(t.server, 'POST', '/api/v1/namespaces/hooks/configmaps', { metadata: { name: 'c' }, data: { k: '1' } })).status, 201);
    assert.equal(hook.received.length, 0, 'CREATE is not in the rule');
    const token = (await call(t.server, 'POST', '/api/v1/namespaces/hooks/serviceaccounts/default/token', { spec: {} })).json.status.token;
    const binding = {
      metadata: { name: 'edit', namespace: 'hooks' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'default' }],
    };
    assert.equal((await call(t.server, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/hooks/rolebindings', binding)).status, 201);
    const patched = await call(
      t.server,
      'PATCH',
      '/api/v1/namespaces/hooks/configmaps/c',
      { data: { k: '2' } },
      { token, contentType: 'application/merge-patch+json' },
    );
    assert.equal(patched.status, 200, patched.text);
    const { request } = hook.received[0]!.review;
    assert.equal(request.operation, 'UPDATE');
    assert.equal(request.userInfo.username, 'system:serviceaccount:hooks:default');
    assert.ok(request.userInfo.groups.includes('system:serviceaccounts:hooks'));
    assert.equal(request.object.data.k, '2');
    assert.equal(request.oldObject.data.k, '1');
    assert.equal(request.options.kind, 'UpdateOptions');
  });

  it('calls a webhook whose objectSelector matches the pod, and not for one it does not match', async () => {
    await register(MWC, 'injector', [webhook('inject.sidecar.example.com', '/inject', { objectSelector: { matchLabels: { inject: 'true' } } })]);
    assert.deepEqual(containers((await createPod('plain', 'yes', { inject: 'true' })).json), ['app', 'istio-proxy']);
    assert.deepEqual(containers((await createPod('plain', 'no', { inject: 'false' })).json), ['app']);
    assert.deepEqual(
      hook.received.map((r) => r.review.request.name),
      ['yes'],
    );
  });

  it('refuses a pod client-node creates when a Fail webhook is unreachable (500, InternalError), and admits it unpatched under Ignore', async () => {
    const url = `https://127.0.0.1:${closedPort}/inject`;
    await register(MWC, 'injector', [webhook('inject.sidecar.example.com', '/inject', { clientConfig: { url, caBundle: hook.caBundle } })]);
    const core = kc.makeApiClient(CoreV1Api);
    const body = { metadata: { name: 'x' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } };
    const err = await core.createNamespacedPod({ namespace: 'plain', body }).then(
      () => assert.fail('created'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApiException);
    assert.equal(err.code, 500);
    const status = JSON.parse(err.body as string);
    assert.equal(status.reason, 'InternalError');
    assert.match(status.message, /^Internal error occurred: failed calling webhook "inject.sidecar.example.com": failed to call webhook: Post /);
    const failed = log.lines.find((l) => l.msg === 'admission webhook call failed');
    assert.equal(failed?.webhook, 'inject.sidecar.example.com');
    assert.equal(failed?.outcome, 'failed closed');
    assert.equal(typeof failed?.durationMs, 'number');

    await call(t.server, 'DELETE', `${MWC}/injector`);
    await register(MWC, 'injector', [
      webhook('inject.sidecar.example.com', '/inject', { clientConfig: { url, caBundle: hook.caBundle }, failurePolicy: 'Ignore' }),
    ]);
    assert.deepEqual(containers(await core.createNamespacedPod({ namespace: 'plain', body })), ['app']);
    assert.equal(log.lines.at(-1)?.outcome, 'failed open');
  });

  it('verifies the webhook server against caBundle: a certificate from another CA fails the call', async () => {
    const other = createCertificateAuthority({ commonName: 'not-the-webhook-ca', validityDays: 1 });
    const caBundle = Buffer.from(other.certPem).toString('base64');
    await register(MWC, 'injector', [
      webhook('inject.sidecar.example.com', '/inject', { clientConfig: { url: `https://127.0.0.1:${hook.port}/inject`, caBundle } }),
    ]);
    const refused = await createPod('plain', 'p');
    assert.equal(refused.status, 500);
    assert.match(refused.json.message, /: tls: failed to verify certificate: x509: certificate signed by unknown authority$/);
    assert.equal(hook.received.length, 0);
  });

  it('treats a webhook that does not answer within timeoutSeconds as failed: refused under Fail, admitted under Ignore', async () => {
    hook.routes.set('/hang', () => 'hang');
    await register(MWC, 'slow', [webhook('slow.example.com', '/hang', { timeoutSeconds: 1 })]);
    const refused = await createPod('plain', 'slow');
    assert.equal(refused.status, 500);
    assert.equal(
      refused.json.message,
      `Internal error occurred: failed calling webhook "slow.example.com": failed to call webhook: Post "https://127.0.0.1:${hook.port}/hang?timeout=1s": context deadline exceeded`,
    );
    await call(t.server, 'DELETE', `${MWC}/slow`);
    await register(MWC, 'slow', [webhook('slow.example.com', '/hang', { timeoutSeconds: 1, failurePolicy: 'Ignore' })]);
    assert.equal((await createPod('plain', 'slow')).status, 201);
  });

  it("denies with the webhook's status and message when it answers allowed: false", async () => {
    hook.routes.set('/deny', (review) => ({
      uid: review.request.uid,
      allowed: false,
      status: { code: 403, reason: 'Forbidden', message: 'pods need an owner label' },
    }));
    await register(MWC, 'policy', [webhook('owner.policy.example.com', '/deny')]);
    const denied = await createPod('plain', 'orphan');
    assert.equal(denied.status, 403);
    assert.equal(denied.json.reason, 'Forbidden');
    assert.equal(denied.json.message, 'admission webhook "owner.policy.example.com" denied the request: pods need an owner label');
    const byKubectl = await kubectl('v1.34', t.server, ['apply', '-f', podFile('orphan', 'plain')]);
    assert.match(
      byKubectl.stderr,
      /Error from server \(Forbidden\): error when creating .*admission webhook "owner.policy.example.com" denied the request: pods need an owner label/,
    );
    // Without a status kube answers 400 "without explanation".
    hook.routes.set('/deny', (review) => ({ uid: review.request.uid, allowed: false }));
    const bare = await createPod('plain', 'orphan');
    assert.equal(bare.status, 400);
    assert.equal(bare.json.message, 'admission webhook "owner.policy.example.com" denied the request without explanation');
  });

  it('fails the call when the response carries another uid', async () => {
    hook.routes.set('/wrong-uid', () => ({ uid: 'not-the-request-uid', allowed: true }));
    await register(MWC, 'liar', [webhook('liar.example.com', '/wrong-uid')]);
    const refused = await createPod('plain', 'p');
    assert.equal(refused.status, 500);
    const uid = hook.received[0]!.review.request.uid;
    assert.equal(
      refused.json.message,
      `Internal error occurred: failed calling webhook "liar.example.com": received invalid webhook response: expected response.uid="${uid}", got "not-the-request-uid"`,
    );
  });

  it('refuses a patch that renames the object, whatever the failurePolicy', async () => {
    hook.routes.set('/rename', (review) => allow(review, jsonPatch([{ op: 'replace', path: '/metadata/name', value: 'other' }])));
    await register(MWC, 'renamer', [webhook('rename.example.com', '/rename', { failurePolicy: 'Ignore' })]);
    const refused = await createPod('plain', 'p');
    assert.equal(refused.status, 500);
    assert.match(refused.json.message, /admission webhook "rename.example.com" may not change metadata.name \(from "p" to "other"\)/);
  });

  it('denies with a validating webhook, which sees the object after the mutating webhooks and defaulting', async () => {
    hook.routes.set('/validate', (review) => {
      const names = containers(review.request.object);
      return names.includes('istio-proxy')
        ? allow(review)
        : { uid: review.request.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no sidecar' } };
    });
    await register(VWC, 'require-sidecar', [webhook('sidecar.policy.example.com', '/validate')]);
    const denied = await createPod('plain', 'bare');
    assert.equal(denied.status, 403);
    assert.equal(denied.json.message, 'admission webhook "sidecar.policy.example.com" denied the request: no sidecar');
    const bySdk = await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: 'plain', body: { metadata: { name: 'bare' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } } })
      .then(
        () => undefined,
        (e: ApiException<string>) => e,
      );
    assert.equal(bySdk?.code, 403);

    await register(MWC, 'injector', [webhook('inject.sidecar.example.com', '/inject')]);
    hook.received.length = 0;
    assert.equal((await createPod('plain', 'bare')).status, 201);
    assert.deepEqual(
      hook.received.map((r) => r.path),
      ['/inject', '/validate'],
    );
    const seen = hook.received[1]!.review.request.object;
    assert.match(seen.metadata.uid, /^[0-9a-f-]{36}$/, 'the final object, uid included');
    assert.equal(seen.spec.containers[1].imagePullPolicy, 'Always', 'the injected container defaulted');
  });

  it('calls a validating webhook on DELETE with the stored object as oldObject, and honours its denial', async () => {
    hook.routes.set('/keep', (review) => ({ uid: review.request.uid, allowed: false, status: { message: 'keep it' } }));
    await register(VWC, 'keeper', [
      webhook('keep.example.com', '/keep', { rules: [{ operations: ['DELETE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }] }),
    ]);
    assert.equal((await call(t.server, 'POST', '/api/v1/namespaces/hooks/configmaps', { metadata: { name: 'kept' } })).status, 201);
    const refused = await kubectl('v1.34', t.server, ['delete', 'configmap', 'kept', '-n', 'hooks']);
    assert.match(refused.stderr, /admission webhook "keep.example.com" denied the request: keep it/);
    const { request } = hook.received[0]!.review;
    assert.equal(request.operation, 'DELETE');
    assert.equal(request.object, null);
    assert.equal(request.oldObject.metadata.name, 'kept');
    assert.equal(request.options.kind, 'DeleteOptions');
    assert.equal((await call(t.server, 'GET', '/api/v1/namespaces/hooks/configmaps/kept')).status, 200);
  });

  it('never calls webhooks for webhook configurations themselves, so a bad one can be removed', async () => {
    hook.routes.set('/deny-all', (review) => ({ uid: review.request.uid, allowed: false, status: { message: 'no' } }));
    await register(VWC, 'deny-all', [
      webhook('deny.all.example.com', '/deny-all', { rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }] }),
    ]);
    assert.equal((await call(t.server, 'POST', '/api/v1/namespaces/hooks/configmaps', { metadata: { name: 'x' } })).status, 400);
    assert.equal(
      (await call(t.server, 'PATCH', `${VWC}/deny-all`, { metadata: { labels: { a: 'b' } } }, { contentType: 'application/merge-patch+json' })).status,
      200,
    );
    assert.equal((await call(t.server, 'DELETE', `${VWC}/deny-all`)).status, 200);
    assert.equal((await call(t.server, 'POST', '/api/v1/namespaces/hooks/configmaps', { metadata: { name: 'x' } })).status, 201);
  });

  it('matches subresources only when a rule names them: pods does not match pods/status', async () => {
    await register(VWC, 'status-watch', [
      webhook('status.example.com', '/allow', { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }),
    ]);
    const pod = (await createPod('hooks', 's')).json;
    const status = await call(t.server, 'PUT', '/api/v1/namespaces/hooks/pods/s/status', { ...pod, status: { phase: 'Running' } });
    assert.equal(status.status, 200, status.text);
    assert.equal(hook.received.length, 0);
    await call(t.server, 'DELETE', `${VWC}/status-watch`);
    await register(VWC, 'status-watch', [
      webhook('status.example.com', '/allow', { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/status'] }] }),
    ]);
    await call(
      t.server,
      'PATCH',
      '/api/v1/namespaces/hooks/pods/s/status',
      { status: { phase: 'Succeeded' } },
      { contentType: 'application/merge-patch+json' },
    );
    assert.equal(hook.received.length, 1);
    assert.equal(hook.received[0]!.review.request.subResource, 'status');
  });

  it('reinvokes an IfNeeded webhook once when a later webhook changed the object', async () => {
    // Counts the containers it sees into an annotation.
    hook.routes.set('/count', (review) => {
      const n = String(containers(review.request.object).length);
      const hasAnnotations = review.request.object.metadata.annotations !== undefined;
      const op = hasAnnotations
        ? { op: 'add', path: '/metadata/annotations/containers', value: n }
        : { op: 'add', path: '/metadata/annotations', value: { containers: n } };
      return allow(review, jsonPatch([op]));
    });
    await register(MWC, 'a-counter', [webhook('count.example.com', '/count', { reinvocationPolicy: 'IfNeeded' })]);
    await register(MWC, 'b-injector', [webhook('inject.sidecar.example.com', '/inject')]);
    const pod = (await createPod('plain', 'counted')).json;
    assert.deepEqual(
      hook.received.map((r) => r.path),
      ['/count', '/inject', '/count'],
    );
    assert.equal(pod.metadata.annotations.containers, '2');
  });

  it('resolves clientConfig.service through its EndpointSlice to the first ready endpoint, verifying <name>.<namespace>.svc', async () => {
    // Its certificate names the service only, not the address it is reached at.
    const bySvc = await startWebhookServer({ dnsNames: ['webhook.hooks.svc'] });
    bySvc.routes.set('/inject', inject);
    after(() => bySvc.close());
    await register(MWC, 'by-service', [
      webhook('svc.example.com', '/inject', { clientConfig: { service: { namespace: 'hooks', name: 'webhook', path: '/inject' }, caBundle: bySvc.caBundle } }),
    ]);
    const noService = await createPod('plain', 'p');
    assert.equal(
      noService.json.message,
      'Internal error occurred: failed calling webhook "svc.example.com": failed to call webhook: Post "https://webhook.hooks.svc:443/inject?timeout=10s": service "webhook" not found',
    );
    await call(t.server, 'POST', '/api/v1/namespaces/hooks/services', {
      metadata: { name: 'webhook' },
      spec: { ports: [{ name: 'https', port: 443, targetPort: 9443 }] },
    });
    const noEndpoints = await createPod('plain', 'p');
    assert.match(noEndpoints.json.message, /no endpoints available for service "webhook"$/);
    await call(t.server, 'POST', '/apis/discovery.k8s.io/v1/namespaces/hooks/endpointslices', {
      metadata: { name: 'webhook-1', labels: { 'kubernetes.io/service-name': 'webhook' } },
      addressType: 'IPv4',
      ports: [{ name: 'https', port: bySvc.port, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['127.0.0.2'], conditions: { ready: false } },
        { addresses: ['127.0.0.1'], conditions: { ready: true } },
      ],
    });
    const injected = await createPod('plain', 'p');
    assert.equal(injected.status, 201, injected.text);
    assert.deepEqual(containers(injected.json), ['app', 'istio-proxy']);
  });

  it('calls a webhook for a dry run only when it declares no side effects, and stores nothing', async () => {
    await register(MWC, 'injector', [webhook('inject.sidecar.example.com', '/inject')]);
    const dry = await call(t.server, 'POST', '/api/v1/namespaces/plain/pods?dryRun=All', {
      metadata: { name: 'dry' },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    });
    assert.equal(dry.status, 201);
    assert.deepEqual(containers(dry.json), ['app', 'istio-proxy']);
    assert.equal(hook.received[0]!.review.request.dryRun, true);
    assert.equal((await call(t.server, 'GET', '/api/v1/namespaces/plain/pods/dry')).status, 404);
    // v1 only takes None/NoneOnDryRun; a configuration stored before (v1beta1's Some) refuses dry runs.
    t.server.store.put('admissionregistration.k8s.io/mutatingwebhookconfigurations', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'legacy' },
      webhooks: [{ ...webhook('legacy.example.com', '/inject'), sideEffects: 'Some' }],
    });
    const refused = await call(t.server, 'POST', '/api/v1/namespaces/plain/pods?dryRun=All', {
      metadata: { name: 'dry' },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.message, 'admission webhook "legacy.example.com" does not support dry run');
  });

  it('passes the warnings of a webhook on as Warning headers, which kubectl prints', async () => {
    hook.routes.set('/warn', (review) => allow(review, { warnings: ['image busybox is not pinned'] }));
    await register(VWC, 'linter', [webhook('lint.example.com', '/warn')]);
    const reply = await createPod('plain', 'w');
    assert.equal(reply.headers.warning, '299 - "image busybox is not pinned"');
    const byKubectl = await kubectl('v1.34', t.server, ['apply', '-f', podFile('w2', 'plain')]);
    assert.match(byKubectl.stderr, /Warning: image busybox is not pinned/);
  });

  it('refuses webhook configurations kube refuses, naming the field', async () => {
    const bad = async (w: Record<string, unknown>, message: RegExp): Promise<void> => {
      const reply = await call(t.server, 'POST', MWC, { metadata: { name: 'bad' }, webhooks: [{ ...webhook('bad.example.com', '/x'), ...w }] });
      assert.equal(reply.status, 422, reply.text);
      assert.match(reply.json.message, message);
    };
    await bad({ sideEffects: undefined }, /webhooks\[0\]\.sideEffects: Required value/);
    await bad({ sideEffects: 'Some' }, /webhooks\[0\]\.sideEffects: Unsupported value: "Some"/);
    await bad({ clientConfig: { url: `http://127.0.0.1:${hook.port}/x` } }, /'https' is the only allowed URL scheme/);
    await bad({ clientConfig: {} }, /webhooks\[0\]\.clientConfig: Required value: exactly one of url or service is required/);
    await bad({ admissionReviewVersions: ['v1beta1'] }, /sends only admission.k8s.io\/v1 AdmissionReviews; include "v1"/);
    await bad({ timeoutSeconds: 31 }, /webhooks\[0\]\.timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds/);
    await bad({ name: 'short' }, /should be a domain with at least three segments separated by dots/);
    await bad({ failurePolicy: 'Sometimes' }, /webhooks\[0\]\.failurePolicy: Unsupported value: "Sometimes"/);
  });
});
