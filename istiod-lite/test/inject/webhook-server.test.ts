// The injection webhook over real HTTPS on 127.0.0.1:0, verified against the mesh root as the
// API server verifies it with the configuration's caBundle.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '@ambient/api';
import { FakeClock } from '@ambient/api/testing';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { MeshCa } from '../../src/ca/ca-keys.ts';
import type { JsonPatchOperation } from '../../src/inject/json-patch.ts';
import { startWebhookServer, type WebhookServer, webhookServingNames } from '../../src/inject/webhook-server.ts';
import { createMetrics, type IstiodMetrics } from '../../src/metrics.ts';
import { defaultProxyPodOptions } from '../../src/proxy-pod.ts';
import { applyJsonPatch } from './apply-json-patch.ts';

const root = createCertificateAuthority({ commonName: 'cluster.local', organization: 'cluster.local' });
const meshCa: MeshCa = { signer: root, chain: [root.certPem], rootCertPem: root.certPem, source: 'istio-ca-secret' };
const silent = pino({ level: 'silent' });

interface Reply {
  status: number;
  body: string;
  cert: X509Certificate;
}

/** One request on a fresh connection (no session reuse), trusting only the mesh root. */
function call(port: number, opts: { method?: string; path?: string; body?: string; servername?: string }): Promise<Reply> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/inject?timeout=10s',
        ca: root.certPem,
        agent: false,
        ...(opts.servername ? { servername: opts.servername } : {}),
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const cert = new X509Certificate((res.socket as TLSSocket).getPeerX509Certificate()!.raw);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), cert }));
      },
    );
    req.on('error', fail);
    req.end(opts.body ?? '');
  });
}

const pod = (labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-', namespace: 'shop', labels },
  spec: { containers: [{ name: 'app', image: 'web' }] },
});
const review = (object: object, uid = 'b7c1a7e2-0001') =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      object,
    },
  });

describe('injection webhook server', () => {
  let server: WebhookServer;
  let metrics: IstiodMetrics;
  let clock: FakeClock;

  beforeEach(async () => {
    metrics = createMetrics(new Registry());
    clock = new FakeClock();
    server = await startWebhookServer({
      ca: meshCa,
      host: '127.0.0.1',
      port: 0,
      ...webhookServingNames({ rootNamespace: 'istio-system', clusterDomain: 'cluster.local' }),
      injection: { rootNamespace: 'istio-system', pod: defaultProxyPodOptions },
      metrics,
      logger: silent,
      certValidityMs: 60 * 60 * 1000,
      maxBodyBytes: 64 * 1024,
      clock: { ...clock.timers, now: clock.now },
    });
  });
  afterEach(async () => {
    await server?.close();
  });

  it('answers a review for an opted-in pod with the same uid, allowed, and a base64 JSON patch that injects', async () => {
    const before = pod();
    const reply = await call(server.port, { body: review(before) });
    assert.equal(reply.status, 200, reply.body);
    const answer = JSON.parse(reply.body);
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, 'b7c1a7e2-0001');
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as JsonPatchOperation[];
    const after = applyJsonPatch(before, ops) as any;
    assert.deepEqual(
      [...after.spec.initContainers, ...after.spec.containers].map((c: { name: string }) => c.name),
      ['istio-proxy', 'app'],
    );
    assert.ok(after.metadata.annotations['sidecar.istio.io/status']);
    assert.equal((await metrics.injectionSuccess.get()).values[0]?.value, 1);
  });

  it('answers a pod that opted out with allowed and no patch', async () => {
    const reply = await call(server.port, { body: review(pod({ 'sidecar.istio.io/inject': 'false' }), 'uid-2') });
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body).response, { uid: 'uid-2', allowed: true });
    assert.equal((await metrics.injectionSkips.get()).values[0]?.value, 1);
  });

  it('lets anything but a pod CREATE through untouched', async () => {
    const update = JSON.parse(review(pod(), 'uid-3'));
    update.request.operation = 'UPDATE';
    const reply = await call(server.port, { body: JSON.stringify(update) });
    assert.deepEqual(JSON.parse(reply.body).response, { uid: 'uid-3', allowed: true });
  });

  it('warns the user when a volume of the pod stands in the way, and does not inject', async () => {
    const clashing = { ...pod(), spec: { containers: [{ name: 'app' }], volumes: [{ name: 'istio-token', emptyDir: {} }] } };
    const answer = JSON.parse((await call(server.port, { body: review(clashing, 'uid-4') })).body);
    assert.deepEqual(answer.response, { uid: 'uid-4', allowed: true, warnings: ['sidecar not injected: the pod already has a volume named istio-token'] });
  });

  const malformed: { name: string; body: string; message: RegExp }[] = [
    { name: 'a body that is not JSON', body: '{"apiVersion": ', message: /^malformed AdmissionReview: body is not JSON/ },
    { name: 'a body that is a list', body: '[]', message: /body is a list, not an object/ },
    {
      name: 'a v1beta1 review',
      body: review(pod()).replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'),
      message: /apiVersion "admission.k8s.io\/v1beta1" is not admission.k8s.io\/v1/,
    },
    { name: 'a review without a request', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), message: /request is missing/ },
    { name: 'a request without a uid', body: review(pod(), ''), message: /request.uid "" is not a non-empty string/ },
    { name: 'a pod without a spec', body: review({ metadata: { name: 'x' } }), message: /request.object.spec is missing/ },
  ];
  for (const c of malformed) {
    it(`refuses ${c.name} with 400 and a message saying what is wrong, and keeps serving`, async () => {
      const reply = await call(server.port, { body: c.body });
      assert.equal(reply.status, 400);
      assert.match(reply.body, c.message);
      assert.equal((await call(server.port, { body: review(pod()) })).status, 200, 'still serving');
      assert.equal((await metrics.injectionFailures.get()).values.find((v) => v.labels.type === 'malformed')?.value, 1);
    });
  }

  it('refuses a body over the limit with 413', async () => {
    const huge = review({ ...pod(), metadata: { name: 'x', annotations: { big: 'x'.repeat(100 * 1024) } } });
    assert.equal((await call(server.port, { body: huge })).status, 413);
  });

  it('serves GET /ready, refuses GET /inject and unknown paths', async () => {
    assert.equal((await call(server.port, { method: 'GET', path: '/ready' })).status, 200);
    const get = await call(server.port, { method: 'GET', path: '/inject' });
    assert.equal(get.status, 405);
    assert.match(get.body, /POST an AdmissionReview to \/inject/);
    assert.equal((await call(server.port, { path: '/mutate' })).status, 404);
  });

  it('serves a certificate from the mesh CA for the istiod Service, localhost and 127.0.0.1', async () => {
    const { cert } = await call(server.port, { method: 'GET', path: '/ready', servername: 'istiod.istio-system.svc' });
    assert.ok(cert.verify(new X509Certificate(root.certPem).publicKey), 'signed by the mesh root');
    for (const name of ['istiod.istio-system.svc', 'istiod.istio-system.svc.cluster.local', 'localhost']) assert.equal(cert.checkHost(name), name);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  });

  it('names a --webhook-url-host in the certificate, as an IP or a DNS name', () => {
    assert.deepEqual(webhookServingNames({ rootNamespace: 'mesh', clusterDomain: 'example.org', urlHost: '10.0.0.5' }), {
      dnsNames: ['istiod.mesh.svc', 'istiod.mesh.svc.example.org', 'localhost'],
      ipAddresses: ['127.0.0.1', '10.0.0.5'],
    });
    assert.deepEqual(
      webhookServingNames({ rootNamespace: 'mesh', clusterDomain: 'example.org', urlHost: 'host.docker.internal' }).dnsNames.at(-1),
      'host.docker.internal',
    );
  });

  it('replaces its certificate at half its life without a restart', async () => {
    const first = (await call(server.port, { method: 'GET', path: '/ready' })).cert;
    clock.advance(29 * 60 * 1000);
    assert.equal((await call(server.port, { method: 'GET', path: '/ready' })).cert.serialNumber, first.serialNumber, 'not before half its life');
    clock.advance(2 * 60 * 1000);
    const second = (await call(server.port, { method: 'GET', path: '/ready' })).cert;
    assert.notEqual(second.serialNumber, first.serialNumber, 'a new certificate after half its life');
    assert.ok(second.verify(new X509Certificate(root.certPem).publicKey));
    assert.equal(server.certificatePem(), second.toString());
    // Rotated at 30 min: the next is due half a lifetime later, at 60 min (now is 31 min).
    assert.deepEqual(clock.pendingDelays(), [29 * 60 * 1000], 'and the next rotation is scheduled');
  });
});
