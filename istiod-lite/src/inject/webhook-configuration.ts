// Pure: the MutatingWebhookConfiguration `istio-sidecar-injector` that makes the API server call
// the injection webhook, as Istio renders it, and the JSON patch that brings a live one back in
// line. Two webhooks, as Istio's default revision:
// - namespace.sidecar-injector.istio.io: pods of namespaces labelled istio-injection=enabled,
//   unless the pod says sidecar.istio.io/inject=false;
// - object.sidecar-injector.istio.io: pods labelled sidecar.istio.io/inject=true in namespaces
//   that carry neither istio-injection nor istio.io/rev.
//
// istiod-lite owns only where the webhook is (clientConfig) and what it trusts (caBundle, the
// mesh root): a live object keeps everything else a user changed — `kubectl patch` to
// failurePolicy Ignore, a narrower selector, a webhook of their own. A webhook of ours that is
// missing is added back whole.
import type { KubeObject, Manifest } from '../model/inputs.ts';
import { injectionNamespaceLabel, revisionLabel, sidecarInjectLabel } from '@ambient/api';
import { type JsonPatchOperation, pointer } from './json-patch.ts';
import { INJECT_PATH } from './admission-review.ts';

export const INJECTOR_CONFIGURATION = 'istio-sidecar-injector';
export const NAMESPACE_WEBHOOK = 'namespace.sidecar-injector.istio.io';
export const OBJECT_WEBHOOK = 'object.sidecar-injector.istio.io';
/** The port of the `istiod` Service that forwards to the webhook's 15017 (Istio's). */
export const WEBHOOK_SERVICE_PORT = 443;

/** Where the API server reaches the webhook, and the root it verifies it with. */
export interface InjectorTarget {
  rootNamespace: string;
  /** The mesh root (PEM); the configuration carries it base64-encoded. */
  caBundlePem: string;
  /** --webhook-url-host: call https://<host>:<port>/inject instead of the istiod Service. */
  urlHost?: string;
  /** The webhook server's port (the actual one when it was 0). */
  port: number;
}

export interface WebhookClientConfig {
  url?: string;
  service?: { name: string; namespace: string; path: string; port: number };
  caBundle: string;
}

export function webhookUrl(host: string, port: number): string {
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}${INJECT_PATH}`;
}

export function webhookClientConfig(target: InjectorTarget): WebhookClientConfig {
  const caBundle = Buffer.from(target.caBundlePem, 'utf8').toString('base64');
  if (target.urlHost) return { url: webhookUrl(target.urlHost, target.port), caBundle };
  return { service: { name: 'istiod', namespace: target.rootNamespace, path: INJECT_PATH, port: WEBHOOK_SERVICE_PORT }, caBundle };
}

export function sidecarInjectorConfiguration(target: InjectorTarget): KubeObject & { webhooks: Manifest[] } {
  const clientConfig = webhookClientConfig(target);
  const common = {
    clientConfig,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: '*' }],
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    failurePolicy: 'Fail',
    reinvocationPolicy: 'Never',
    timeoutSeconds: 10,
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: INJECTOR_CONFIGURATION, labels: { app: 'sidecar-injector' } },
    webhooks: [
      {
        name: NAMESPACE_WEBHOOK,
        ...common,
        namespaceSelector: { matchExpressions: [{ key: injectionNamespaceLabel, operator: 'In', values: ['enabled'] }] },
        objectSelector: { matchExpressions: [{ key: sidecarInjectLabel, operator: 'NotIn', values: ['false'] }] },
      },
      {
        name: OBJECT_WEBHOOK,
        ...common,
        namespaceSelector: {
          matchExpressions: [
            { key: injectionNamespaceLabel, operator: 'DoesNotExist' },
            { key: revisionLabel, operator: 'DoesNotExist' },
          ],
        },
        objectSelector: { matchExpressions: [{ key: sidecarInjectLabel, operator: 'In', values: ['true'] }] },
      },
    ],
  };
}

/** A clientConfig as the API server compares it: the service port defaults to 443. */
function canonicalClientConfig(c: Manifest): string {
  const service = c?.service
    ? { name: c.service.name, namespace: c.service.namespace, path: c.service.path ?? '', port: c.service.port ?? WEBHOOK_SERVICE_PORT }
    : undefined;
  return JSON.stringify({ url: c?.url ?? '', service, caBundle: c?.caBundle ?? '' });
}

/**
 * What brings `live` in line with `wanted` (sidecarInjectorConfiguration): each of our webhooks
 * that is missing is added; each whose clientConfig differs gets ours, guarded by a `test` of its
 * name, so a list reordered meanwhile fails the patch instead of writing the wrong webhook.
 * Nothing else is touched. Empty when nothing differs.
 */
export function webhookConfigurationPatch(live: Manifest, wanted: { webhooks: Manifest[] }): JsonPatchOperation[] {
  const hooks: unknown = live?.webhooks;
  if (!Array.isArray(hooks)) return [{ op: 'add', path: pointer('webhooks'), value: wanted.webhooks }];
  const ops: JsonPatchOperation[] = [];
  for (const want of wanted.webhooks) {
    const i = hooks.findIndex((h: Manifest) => h?.name === want.name);
    if (i < 0) {
      ops.push({ op: 'add', path: pointer('webhooks', '-'), value: want });
      continue;
    }
    if (canonicalClientConfig(hooks[i].clientConfig) === canonicalClientConfig(want.clientConfig)) continue;
    ops.push({ op: 'test', path: pointer('webhooks', i, 'name'), value: want.name });
    ops.push({ op: 'add', path: pointer('webhooks', i, 'clientConfig'), value: want.clientConfig });
  }
  return ops;
}
