import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load } from 'js-yaml';
import { type InjectorTarget, sidecarInjectorConfiguration, webhookClientConfig, webhookConfigurationPatch } from '../../src/inject/webhook-configuration.ts';
import { applyJsonPatch } from './apply-json-patch.ts';

const rootPem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const caBundle = Buffer.from(rootPem).toString('base64');
const serviceTarget: InjectorTarget = { rootNamespace: 'istio-system', caBundlePem: rootPem, port: 15017 };
const urlTarget: InjectorTarget = { ...serviceTarget, urlHost: '127.0.0.1', port: 40123 };

const rules = [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: '*' }];
const common = { rules, sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Fail', reinvocationPolicy: 'Never', timeoutSeconds: 10 };

describe('the sidecar injector MutatingWebhookConfiguration', () => {
  it("renders Istio's two webhooks calling the istiod Service on 443 with the mesh root as caBundle", () => {
    const clientConfig = { service: { name: 'istiod', namespace: 'istio-system', path: '/inject', port: 443 }, caBundle };
    assert.deepEqual(sidecarInjectorConfiguration(serviceTarget), {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'istio-sidecar-injector', labels: { app: 'sidecar-injector' } },
      webhooks: [
        {
          name: 'namespace.sidecar-injector.istio.io',
          clientConfig,
          ...common,
          namespaceSelector: { matchExpressions: [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }] },
          objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] },
        },
        {
          name: 'object.sidecar-injector.istio.io',
          clientConfig,
          ...common,
          namespaceSelector: {
            matchExpressions: [
              { key: 'istio-injection', operator: 'DoesNotExist' },
              { key: 'istio.io/rev', operator: 'DoesNotExist' },
            ],
          },
          objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }] },
        },
      ],
    });
  });

  it('is what deploy/istiod-lite/webhook.yaml installs, with the caBundle left for istiod-lite to fill', () => {
    const deployed = load(readFileSync(resolve(import.meta.dirname, '../../../deploy/istiod-lite/webhook.yaml'), 'utf8'));
    assert.deepEqual(deployed, sidecarInjectorConfiguration({ ...serviceTarget, caBundlePem: '' }));
  });

  it('calls https://<host>:<actual port>/inject with --webhook-url-host (the local cluster runs istiod-lite on the host)', () => {
    for (const hook of sidecarInjectorConfiguration(urlTarget).webhooks) {
      assert.deepEqual(hook.clientConfig, { url: 'https://127.0.0.1:40123/inject', caBundle });
    }
    assert.equal(webhookClientConfig({ ...urlTarget, urlHost: '::1' }).url, 'https://[::1]:40123/inject');
    assert.equal(webhookClientConfig({ ...serviceTarget, rootNamespace: 'mesh' }).service?.namespace, 'mesh');
  });

  describe('keeping a live object correct', () => {
    const wanted = sidecarInjectorConfiguration(serviceTarget);
    const live = () => structuredClone(wanted) as any;

    it('leaves an object that is correct alone', () => {
      assert.deepEqual(webhookConfigurationPatch(live(), wanted), []);
    });

    it('keeps what a user changed on purpose: failurePolicy Ignore, a selector, a webhook of their own', () => {
      const l = live();
      l.webhooks[0].failurePolicy = 'Ignore';
      l.webhooks[1].objectSelector = { matchLabels: { team: 'a' } };
      l.webhooks.unshift({ name: 'mine.example.com', clientConfig: { url: 'https://example.com' } });
      assert.deepEqual(webhookConfigurationPatch(l, wanted), []);
    });

    it('treats a service port left out as the API server does: 443', () => {
      const l = live();
      for (const h of l.webhooks) delete h.clientConfig.service.port;
      assert.deepEqual(webhookConfigurationPatch(l, wanted), []);
    });

    it('puts back caBundle and clientConfig, guarded by a test of the webhook name, and nothing else', () => {
      const l = live();
      l.webhooks.unshift({ name: 'mine.example.com', clientConfig: { url: 'https://example.com' } });
      l.webhooks[1].failurePolicy = 'Ignore';
      l.webhooks[1].clientConfig.caBundle = '';
      l.webhooks[2].clientConfig = { url: 'https://attacker.example/inject', caBundle: 'eA==' };
      const ops = webhookConfigurationPatch(l, wanted);
      assert.deepEqual(
        ops.map((o) => [o.op, o.path]),
        [
          ['test', '/webhooks/1/name'],
          ['add', '/webhooks/1/clientConfig'],
          ['test', '/webhooks/2/name'],
          ['add', '/webhooks/2/clientConfig'],
        ],
      );
      const fixed = applyJsonPatch(l, ops);
      assert.equal(fixed.webhooks[1].failurePolicy, 'Ignore', "the user's failurePolicy stays");
      assert.deepEqual(fixed.webhooks[0], { name: 'mine.example.com', clientConfig: { url: 'https://example.com' } });
      assert.deepEqual(fixed.webhooks[1].clientConfig, wanted.webhooks[0].clientConfig);
      assert.deepEqual(fixed.webhooks[2].clientConfig, wanted.webhooks[1].clientConfig);
    });

    it('switches between the Service and the url form', () => {
      const ops = webhookConfigurationPatch(live(), sidecarInjectorConfiguration(urlTarget));
      const fixed = applyJsonPatch(live(), ops);
      assert.deepEqual(fixed.webhooks[0].clientConfig, { url: 'https://127.0.0.1:40123/inject', caBundle });
    });

    it('adds back a webhook of ours that was removed, and the list when there is none', () => {
      const l = live();
      l.webhooks.splice(0, 1);
      const ops = webhookConfigurationPatch(l, wanted);
      assert.deepEqual(ops, [{ op: 'add', path: '/webhooks/-', value: wanted.webhooks[0] }]);
      const empty = live();
      delete empty.webhooks;
      assert.deepEqual(applyJsonPatch(empty, webhookConfigurationPatch(empty, wanted)).webhooks, wanted.webhooks);
    });

    it('fails the patch (the test op) when the list was reordered since it was read', () => {
      const l = live();
      l.webhooks[0].clientConfig.caBundle = '';
      const ops = webhookConfigurationPatch(l, wanted);
      const reordered = live();
      reordered.webhooks.reverse();
      assert.throws(() => applyJsonPatch(reordered, ops), /test \/webhooks\/0\/name failed/);
    });
  });
});
