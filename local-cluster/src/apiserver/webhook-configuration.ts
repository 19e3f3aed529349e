// MutatingWebhookConfiguration and ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1):
// the defaults and validation kube-apiserver applies when they are written, and their
// conversion, at read time, into the `Webhook`s admission calls. Pure functions over plain data.
import type { StatusCause } from '../apimachinery/errors.ts';
import { isObject } from '../apimachinery/json-value.ts';
import { labelSelectorFromObject, type LabelSelectorObject } from '../apimachinery/label-selector.ts';
import type { KubeObject } from '../apimachinery/types.ts';

export const ADMISSION_GROUP = 'admissionregistration.k8s.io';
export const WEBHOOK_CONFIGURATION_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface WebhookRule {
  operations: string[]; // Operation or '*'
  apiGroups: string[];
  apiVersions: string[];
  resources: string[]; // 'pods', 'pods/status', '*', '*/*', 'pods/*'
  scope: 'Cluster' | 'Namespaced' | '*';
}

export interface ServiceReference {
  namespace: string;
  name: string;
  port: number;
  path: string;
}

/** One webhook of a stored configuration, defaulted, as admission uses it. */
export interface Webhook {
  name: string;
  configuration: string;
  mutating: boolean;
  url: string | undefined;
  service: ServiceReference | undefined;
  /** PEM roots to verify the webhook's server with; undefined = the system roots. */
  caPem: string | undefined;
  rules: WebhookRule[];
  failurePolicy: 'Fail' | 'Ignore';
  sideEffects: string;
  timeoutSeconds: number;
  admissionReviewVersions: string[];
  namespaceSelector: LabelSelectorObject;
  objectSelector: LabelSelectorObject;
  /** reinvocationPolicy IfNeeded (mutating webhooks only). */
  reinvoke: boolean;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (isObject(v) ? v : {});
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strings = (v: unknown): string[] => asArray(v).filter((s): s is string => typeof s === 'string');

const OPERATIONS = ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'];
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The v1 defaults (SetDefaults_ValidatingWebhook, _MutatingWebhook, _Rule, _ServiceReference). Mutates `obj`. */
export function defaultWebhookConfiguration(obj: KubeObject): void {
  const mutating = obj.kind === 'MutatingWebhookConfiguration';
  for (const w of asArray(obj.webhooks)) {
    if (!isObject(w)) continue;
    w.failurePolicy ??= 'Fail';
    w.matchPolicy ??= 'Equivalent';
    w.namespaceSelector ??= {};
    w.objectSelector ??= {};
    w.timeoutSeconds ??= 10;
    if (mutating) w.reinvocationPolicy ??= 'Never';
    for (const rule of asArray(w.rules)) if (isObject(rule)) rule.scope ??= '*';
    const service = asObj(w.clientConfig).service;
    if (isObject(service)) service.port ??= 443;
  }
}

/** Collects validation causes with kube's wording. */
class Causes {
  readonly list: StatusCause[] = [];

  required(field: string, detail = ''): void {
    this.list.push({ reason: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' });
  }

  invalid(field: string, value: unknown, why: string): void {
    this.list.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: ${why}` });
  }

  /** `value` (when set) must be one of `allowed`. */
  oneOf(field: string, value: unknown, allowed: string[], why = `supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`): void {
    if (value !== undefined && !allowed.includes(value as string)) {
      this.list.push({ reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${JSON.stringify(value)}: ${why}` });
    }
  }
}

/** Validation causes, with kube's field paths and wording where the local cluster has them. */
export function webhookConfigurationCauses(obj: KubeObject): StatusCause[] {
  const c = new Causes();
  const mutating = obj.kind === 'MutatingWebhookConfiguration';
  if (obj.webhooks !== undefined && !Array.isArray(obj.webhooks)) c.invalid('webhooks', obj.webhooks, 'must be a list');
  const seen = new Set<string>();
  asArray(obj.webhooks).forEach((raw, i) => {
    const path = `webhooks[${i}]`;
    const w = asObj(raw);
    const name = w.name;
    if (typeof name !== 'string' || name === '') c.required(`${path}.name`);
    else if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253 || name.split('.').length < 3) {
      c.invalid(`${path}.name`, name, 'should be a domain with at least three segments separated by dots');
    } else if (seen.has(name)) {
      c.list.push({ reason: 'FieldValueDuplicate', field: `${path}.name`, message: `Duplicate value: ${JSON.stringify(name)}` });
    } else {
      seen.add(name);
    }
    clientConfigCauses(asObj(w.clientConfig), `${path}.clientConfig`, c);
    asArray(w.rules).forEach((r, j) => {
      ruleCauses(asObj(r), `${path}.rules[${j}]`, c);
    });
    c.oneOf(`${path}.failurePolicy`, w.failurePolicy, ['Fail', 'Ignore']);
    c.oneOf(`${path}.matchPolicy`, w.matchPolicy, ['Equivalent', 'Exact']);
    if (w.sideEffects === undefined) c.required(`${path}.sideEffects`, 'must specify one of None, NoneOnDryRun');
    else c.oneOf(`${path}.sideEffects`, w.sideEffects, ['None', 'NoneOnDryRun']);
    const timeout = w.timeoutSeconds;
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 30)) {
      c.invalid(`${path}.timeoutSeconds`, timeout, 'the timeout value must be between 1 and 30 seconds');
    }
    const versions = strings(w.admissionReviewVersions);
    if (versions.length === 0) c.required(`${path}.admissionReviewVersions`, 'must specify one of v1, v1beta1');
    // kube would send v1beta1 reviews to a webhook without v1; this server speaks only v1.
    else
      c.oneOf(
        `${path}.admissionReviewVersions`,
        versions.includes('v1') ? undefined : versions,
        ['v1'],
        `the local cluster's API server sends only admission.k8s.io/v1 AdmissionReviews; include "v1"`,
      );
    if (mutating) c.oneOf(`${path}.reinvocationPolicy`, w.reinvocationPolicy, ['IfNeeded', 'Never']);
    if (asArray(w.matchConditions).length > 0) {
      c.list.push({
        reason: 'FieldValueForbidden',
        field: `${path}.matchConditions`,
        message: "Forbidden: the local cluster's API server does not evaluate CEL match conditions",
      });
    }
    for (const field of ['namespaceSelector', 'objectSelector'] as const) {
      try {
        labelSelectorFromObject(w[field] as LabelSelectorObject | undefined);
      } catch (err) {
        c.invalid(`${path}.${field}`, w[field], (err as Error).message);
      }
    }
  });
  return c.list;
}

function clientConfigCauses(cc: Obj, path: string, c: Causes): void {
  const hasUrl = typeof cc.url === 'string' && cc.url !== '';
  const hasService = isObject(cc.service);
  if (hasUrl === hasService) {
    c.required(path, 'exactly one of url or service is required');
  } else if (hasUrl) {
    const raw = cc.url as string;
    let u: URL | undefined;
    try {
      u = new URL(raw);
    } catch {
      c.invalid(`${path}.url`, raw, 'host must be specified');
    }
    if (u) {
      if (u.protocol !== 'https:') c.invalid(`${path}.url`, raw, "'https' is the only allowed URL scheme");
      if (u.username || u.password) c.invalid(`${path}.url`, raw, 'user information is not permitted in the URL');
      if (raw.includes('#')) c.invalid(`${path}.url`, raw, 'fragments are not permitted in the URL');
      if (raw.includes('?')) c.invalid(`${path}.url`, raw, 'query parameters are not permitted in the URL');
    }
  } else {
    const s = asObj(cc.service);
    if (typeof s.name !== 'string' || s.name === '') c.required(`${path}.service.name`, 'service name is required');
    if (typeof s.namespace !== 'string' || s.namespace === '') c.required(`${path}.service.namespace`, 'service namespace is required');
    if (s.port !== undefined && (typeof s.port !== 'number' || !Number.isInteger(s.port) || s.port < 1 || s.port > 65535)) {
      c.invalid(`${path}.service.port`, s.port, 'port is not valid: must be between 1 and 65535, inclusive');
    }
    if (s.path !== undefined && (typeof s.path !== 'string' || !s.path.startsWith('/'))) c.invalid(`${path}.service.path`, s.path, "must start with a '/'");
  }
  const ca = cc.caBundle;
  if (ca !== undefined && (typeof ca !== 'string' || ca.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(ca))) {
    c.invalid(`${path}.caBundle`, typeof ca === 'string' ? `${ca.slice(0, 16)}...` : ca, 'must be base64-encoded PEM');
  }
}

function ruleCauses(rule: Obj, path: string, c: Causes): void {
  const ops = strings(rule.operations);
  if (ops.length === 0) c.required(`${path}.operations`);
  ops.forEach((op, k) => {
    c.oneOf(`${path}.operations[${k}]`, op, OPERATIONS);
  });
  if (ops.length > 1 && ops.includes('*')) c.invalid(`${path}.operations`, ops, "if '*' is present, must not specify other operations");
  for (const field of ['apiGroups', 'apiVersions', 'resources'] as const) if (strings(rule[field]).length === 0) c.required(`${path}.${field}`);
  c.oneOf(`${path}.scope`, rule.scope, ['Cluster', 'Namespaced', '*']);
}

/**
 * The webhooks of the stored configurations in calling order: configurations by name (as
 * kube-apiserver sorts them), each one's webhooks in the order listed. Stored objects passed
 * validation, so only their shape is trusted here, not re-checked.
 */
export function webhooksOf(configurations: KubeObject[]): Webhook[] {
  const sorted = [...configurations].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  return sorted.flatMap((c) =>
    asArray(c.webhooks)
      .filter(isObject)
      .map((w): Webhook => {
        const cc = asObj(w.clientConfig);
        const service = isObject(cc.service) ? cc.service : undefined;
        const ca = typeof cc.caBundle === 'string' && cc.caBundle !== '' ? Buffer.from(cc.caBundle, 'base64').toString('utf8') : undefined;
        return {
          name: String(w.name),
          configuration: c.metadata.name ?? '',
          mutating: c.kind === 'MutatingWebhookConfiguration',
          url: typeof cc.url === 'string' && cc.url !== '' ? cc.url : undefined,
          service: service && {
            namespace: String(service.namespace),
            name: String(service.name),
            port: typeof service.port === 'number' ? service.port : 443,
            path: typeof service.path === 'string' ? service.path : '',
          },
          caPem: ca,
          rules: asArray(w.rules)
            .filter(isObject)
            .map((r) => ({
              operations: strings(r.operations),
              apiGroups: strings(r.apiGroups),
              apiVersions: strings(r.apiVersions),
              resources: strings(r.resources),
              scope: (r.scope as WebhookRule['scope'] | undefined) ?? '*',
            })),
          failurePolicy: w.failurePolicy === 'Ignore' ? 'Ignore' : 'Fail',
          sideEffects: typeof w.sideEffects === 'string' ? w.sideEffects : '',
          timeoutSeconds: typeof w.timeoutSeconds === 'number' ? w.timeoutSeconds : 10,
          admissionReviewVersions: strings(w.admissionReviewVersions),
          namespaceSelector: asObj(w.namespaceSelector) as LabelSelectorObject,
          objectSelector: asObj(w.objectSelector) as LabelSelectorObject,
          reinvoke: w.reinvocationPolicy === 'IfNeeded',
        };
      }),
  );
}
