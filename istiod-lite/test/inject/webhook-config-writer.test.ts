// The leader's writer against the embedded API server, with the real kubectl playing the user.
import assert from 'node:assert/strict';
import { AdmissionregistrationV1Api, type V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { WebhookConfigWriter } from '../../src/inject/webhook-config-writer.ts';
import type { InjectorTarget } from '../../src/inject/webhook-configuration.ts';
import { eventually, kubectl, silent, startEmbeddedApi, type EmbeddedApi } from '../kube/embedded-api.ts';
import { serveMutatingWebhookConfigurations } from './admission-api.ts';

const rootPem = '-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';
const caBundle = Buffer.from(rootPem).toString('base64');
const target: InjectorTarget = { rootNamespace: 'istio-system', caBundlePem: rootPem, port: 15017 };

describe('WebhookConfigWriter', function () {
  this.timeout(30_000);
  let api: EmbeddedApi;
  let writers: WebhookConfigWriter[];
  const writer = (t: InjectorTarget = target, isLeader?: () => boolean): WebhookConfigWriter => {
    const w = new WebhookConfigWriter(api.kc, { target: t, logger: silent, retryMs: 50, maxRetryMs: 200, ...(isLeader ? { isLeader } : {}) });
    writers.push(w);
    return w;
  };
  const live = (): Promise<V1MutatingWebhookConfiguration> =>
    api.kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'istio-sidecar-injector' });
  const getJson = async (): Promise<any> => {
    const r = await kubectl(api, ['get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  beforeEach(async () => {
    writers = [];
    api = await startEmbeddedApi();
    await serveMutatingWebhookConfigurations(api.kc);
  });
  afterEach(async () => {
    await Promise.all(writers.map((w) => w.stop()));
    await api?.close();
  });

  it('creates istio-sidecar-injector, visible with kubectl, and then finds nothing to do', async () => {
    const w = writer();
    assert.equal(await w.reconcile(), 'created');
    const obj = await getJson();
    assert.deepEqual(
      obj.webhooks.map((h: any) => [h.name, h.clientConfig.service, h.clientConfig.caBundle, h.failurePolicy]),
      [
        ['namespace.sidecar-injector.istio.io', { name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 }, caBundle, 'Fail'],
        ['object.sidecar-injector.istio.io', { name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 }, caBundle, 'Fail'],
      ],
    );
    assert.equal(await w.reconcile(), 'unchanged');
  });

  it('keeps a failurePolicy the user changed with kubectl patch, and puts back a caBundle they broke', async () => {
    const w = writer();
    await w.reconcile();
    const patched = await kubectl(api, [
      'patch',
      'mutatingwebhookconfiguration',
      'istio-sidecar-injector',
      '--type=json',
      '-p',
      JSON.stringify([
        { op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' },
        { op: 'replace', path: '/webhooks/1/clientConfig/caBundle', value: '' },
      ]),
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    assert.equal(await w.reconcile(), 'patched');
    const obj = await getJson();
    assert.equal(obj.webhooks[0].failurePolicy, 'Ignore', "the user's choice stays");
    assert.equal(obj.webhooks[1].clientConfig.caBundle, caBundle, 'the mesh root is back');
    assert.equal(await w.reconcile(), 'unchanged');
  });

  it('points the webhooks at https://<host>:<port>/inject with --webhook-url-host', async () => {
    await writer({ ...target, urlHost: '127.0.0.1', port: 40123 }).reconcile();
    const obj = await getJson();
    assert.deepEqual(
      obj.webhooks.map((h: any) => h.clientConfig),
      [
        { url: 'https://127.0.0.1:40123/inject', caBundle },
        { url: 'https://127.0.0.1:40123/inject', caBundle },
      ],
    );
  });

  it('writes nothing while not leading', async () => {
    assert.equal(await writer(target, () => false).reconcile(), 'not-leader');
    await assert.rejects(live(), (err: { code?: number }) => err.code === 404);
  });

  it('watches the object: a deletion or a changed clientConfig is undone in the background until stop()', async () => {
    const w = writer();
    w.start();
    await eventually('the configuration to be created', () =>
      live().then(
        () => true,
        () => false,
      ),
    );
    const tampered = await kubectl(api, [
      'patch',
      'mutatingwebhookconfiguration',
      'istio-sidecar-injector',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig', value: { url: 'https://elsewhere.example/inject' } }]),
    ]);
    assert.equal(tampered.code, 0, tampered.stderr);
    await eventually('clientConfig restored', async () => (await live()).webhooks?.[0]?.clientConfig?.service?.name === 'istiod');
    assert.equal((await kubectl(api, ['delete', 'mutatingwebhookconfiguration', 'istio-sidecar-injector'])).code, 0);
    await eventually('the configuration to be created again', () =>
      live().then(
        () => true,
        () => false,
      ),
    );

    await w.stop();
    assert.equal((await kubectl(api, ['delete', 'mutatingwebhookconfiguration', 'istio-sidecar-injector'])).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(live(), (err: { code?: number }) => err.code === 404, 'a stopped writer writes nothing');
  });
});
