// Dynamic admission as kube-apiserver does it: on a create, update or delete, the matching
// mutating webhooks (configurations by name, webhooks in listed order; IfNeeded ones reinvoked
// once when a later webhook changed the object) are sent an admission.k8s.io/v1 AdmissionReview
// and their JSON patches applied; then the matching validating webhooks see the final object.
// Matching (rules, namespaceSelector, objectSelector) and the review/response formats are pure
// functions here; the HTTPS call is admission-webhook-call.ts.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { matchesLabelSelector } from '@ambient/api/kube';
import type { Logger } from 'pino';
import { ApiError, badRequest, notFound, type StatusDetails } from '../apimachinery/errors.ts';
import { applyJsonPatch } from '../apimachinery/json-patch.ts';
import { deepEqual, isObject } from '../apimachinery/json-value.ts';
import type { KubeObject, ResourceInfo } from '../apimachinery/types.ts';
import { postAdmissionReview, WebhookCallError, type WebhookTarget } from './admission-webhook-call.ts';
import { applyDefaults } from './object-rules.ts';
import type { UserInfo } from './service-account-tokens.ts';
import type { Store } from './store.ts';
import { ADMISSION_GROUP, webhooksOf, type Operation, type Webhook, type WebhookRule } from './webhook-configuration.ts';

/** What kube calls admission.Attributes: one request, as webhooks match and see it. */
export interface AdmissionAttributes {
  operation: Exclude<Operation, 'CONNECT'>;
  resource: Pick<ResourceInfo, 'group' | 'version' | 'plural' | 'namespaced'>;
  subresource: string; // '' for the main resource
  /** The kind of `object` (autoscaling/v1 Scale for deployments/scale). */
  kind: { group: string; version: string; kind: string };
  /** The request's namespace; a Namespace's own name for a Namespace (as kube does). */
  namespace: string;
  name: string; // '' for a create with generateName
  user: UserInfo;
  dryRun: boolean;
  /** CreateOptions, UpdateOptions or DeleteOptions (meta.k8s.io/v1). */
  options: Record<string, unknown>;
  /** Built-in kinds are defaulted again after each patch, as kube's decoder does. */
  builtin: boolean;
}

/** Where warnings of webhooks go (the HTTP layer makes them `Warning` headers). */
export type WarningSink = (text: string) => void;

/** Resources whose writes never call webhooks (kube exempts them so a bad webhook cannot lock itself in). */
const EXEMPT = new Set([
  `${ADMISSION_GROUP}/mutatingwebhookconfigurations`,
  `${ADMISSION_GROUP}/validatingwebhookconfigurations`,
  'authentication.k8s.io/tokenreviews',
  'authentication.k8s.io/selfsubjectreviews',
  'authorization.k8s.io/subjectaccessreviews',
  'authorization.k8s.io/selfsubjectaccessreviews',
]);

const CONFIG_KEYS = [`${ADMISSION_GROUP}/mutatingwebhookconfigurations`, `${ADMISSION_GROUP}/validatingwebhookconfigurations`];

export function isExempt(attrs: AdmissionAttributes): boolean {
  return EXEMPT.has(`${attrs.resource.group}/${attrs.resource.plural}`);
}

/**
 * kube's rules.Matcher: operation, group, version, resource and subresource, and scope. A
 * resource entry is `res` or `res/sub`, either part `*`; `pods` does not match `pods/status`.
 */
export function ruleMatches(rule: WebhookRule, attrs: AdmissionAttributes): boolean {
  const anyOf = (list: string[], value: string): boolean => list.includes('*') || list.includes(value);
  if (!anyOf(rule.operations, attrs.operation)) return false;
  if (!anyOf(rule.apiGroups, attrs.resource.group) || !anyOf(rule.apiVersions, attrs.resource.version)) return false;
  const resourceMatches = rule.resources.some((entry) => {
    const slash = entry.indexOf('/');
    const [res, sub] = slash < 0 ? [entry, ''] : [entry.slice(0, slash), entry.slice(slash + 1)];
    return (res === '*' || res === attrs.resource.plural) && (sub === '*' || sub === attrs.subresource);
  });
  if (!resourceMatches) return false;
  // A Namespace is cluster-scoped, whatever its request's namespace says.
  const isNamespace = attrs.resource.group === '' && attrs.resource.plural === 'namespaces';
  if (rule.scope === 'Namespaced') return !isNamespace && attrs.namespace !== '';
  if (rule.scope === 'Cluster') return isNamespace || attrs.namespace === '';
  return true;
}

/**
 * Whether `w` is called for this request. `namespaceLabels` are those of the request's
 * Namespace (of the object itself for a Namespace); undefined for other cluster-scoped objects,
 * which no namespaceSelector exempts. The objectSelector matches the new or the old object.
 */
export function webhookApplies(
  w: Webhook,
  attrs: AdmissionAttributes,
  object: KubeObject | undefined,
  old: KubeObject | undefined,
  namespaceLabels: Record<string, string> | undefined,
): boolean {
  if (!w.rules.some((r) => ruleMatches(r, attrs))) return false;
  if (namespaceLabels !== undefined && !matchesLabelSelector(w.namespaceSelector, namespaceLabels)) return false;
  const selectsObjects = Object.keys(w.objectSelector.matchLabels ?? {}).length > 0 || (w.objectSelector.matchExpressions ?? []).length > 0;
  if (!selectsObjects) return true;
  return [object, old].some((o) => o !== undefined && matchesLabelSelector(w.objectSelector, o.metadata.labels ?? {}));
}

/** The admission.k8s.io/v1 AdmissionReview request body. */
export function admissionReview(uid: string, attrs: AdmissionAttributes, object: KubeObject | undefined, old: KubeObject | undefined): Record<string, unknown> {
  const { resource, kind, user } = attrs;
  const gvr = { group: resource.group, version: resource.version, resource: resource.plural };
  const userInfo: Record<string, unknown> = { username: user.username, groups: user.groups };
  if (user.uid) userInfo.uid = user.uid;
  if (user.extra && Object.keys(user.extra).length > 0) userInfo.extra = user.extra;
  const request: Record<string, unknown> = { uid, kind, resource: gvr };
  if (attrs.subresource) request.subResource = attrs.subresource;
  request.requestKind = kind;
  request.requestResource = gvr;
  if (attrs.subresource) request.requestSubResource = attrs.subresource;
  if (attrs.name) request.name = attrs.name;
  if (attrs.namespace) request.namespace = attrs.namespace;
  Object.assign(request, {
    operation: attrs.operation,
    userInfo,
    object: object ?? null,
    oldObject: old ?? null,
    dryRun: attrs.dryRun,
    options: attrs.options,
  });
  return { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request };
}

export interface WebhookVerdict {
  allowed: boolean;
  /** Decoded JSON patch operations (mutating webhooks only); undefined = none. */
  patch: unknown[] | undefined;
  status: Record<string, unknown> | undefined;
  warnings: string[];
}

/** kube's VerifyAdmissionResponse for v1; a malformed answer throws a WebhookCallError. */
export function readVerdict(body: unknown, uid: string, mutating: boolean): WebhookVerdict {
  const bad = (why: string): never => {
    throw new WebhookCallError(`received invalid webhook response: ${why}`);
  };
  if (!isObject(body)) return bad('the response is not a JSON object');
  const response = body.response;
  if (!isObject(response)) return bad('webhook response was absent');
  if (response.uid !== uid) return bad(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(response.uid ?? '')}`);
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    return bad(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${String(body.apiVersion ?? '')}, Kind=${String(body.kind ?? '')}`);
  }
  const hasPatch = typeof response.patch === 'string' && response.patch !== '';
  if (!mutating && hasPatch) bad('validating webhook may not return response.patch');
  if (!mutating && response.patchType !== undefined && response.patchType !== null) bad('validating webhook may not return response.patchType');
  if (hasPatch && (response.patchType === undefined || response.patchType === null)) bad('webhook returned response.patch but not response.patchType');
  if (!hasPatch && response.patchType !== undefined && response.patchType !== null) bad('webhook returned response.patchType but not response.patch');
  if (hasPatch && response.patchType !== 'JSONPatch') bad(`webhook returned invalid response.patchType of ${JSON.stringify(response.patchType)}`);
  let patch: unknown[] | undefined;
  if (hasPatch) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8'));
    } catch (err) {
      return bad(`received undecodable patch in webhook response: ${(err as Error).message}`);
    }
    if (!Array.isArray(decoded)) return bad('received undecodable patch in webhook response: a JSON patch must be a list of operations');
    patch = decoded;
  }
  const warnings = Array.isArray(response.warnings) ? response.warnings.filter((w): w is string => typeof w === 'string') : [];
  return { allowed: response.allowed === true, patch, status: isObject(response.status) ? response.status : undefined, warnings };
}

/** kube's ToStatusErr: the webhook's Status, code at least 400, message prefixed with who denied. */
export function denial(webhook: string, status: Record<string, unknown> | undefined): ApiError {
  const deniedBy = `admission webhook ${JSON.stringify(webhook)} denied the request`;
  const s = status ?? {};
  const code = typeof s.code === 'number' && s.code >= 400 ? s.code : 400;
  const reason = typeof s.reason === 'string' ? s.reason : '';
  const message =
    typeof s.message === 'string' && s.message ? `${deniedBy}: ${s.message}` : reason ? `${deniedBy}: ${reason}` : `${deniedBy} without explanation`;
  return ApiError.fromWebhookStatus({ reason, code, message, details: isObject(s.details) ? (s.details as StatusDetails) : undefined });
}

/** kube's apierrors.NewInternalError: 500, `Internal error occurred: ...`. */
export function internalError(message: string, cause?: unknown): ApiError {
  return new ApiError('InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }, { cause });
}

/** A `Warning` header value (RFC 7234 warn-code 299, as kube sends them); non-printable characters become '?'. */
export function warningHeader(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?').slice(0, 4096);
  return `299 - ${JSON.stringify(printable)}`;
}

const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

export interface AdmissionWebhooksDeps {
  store: Store;
  logger: Logger | undefined;
}

/** Runs the webhooks of the stored configurations for one request at a time (no state between requests). */
export class AdmissionWebhooks {
  readonly #store: Store;
  readonly #logger: Logger | undefined;

  constructor(deps: AdmissionWebhooksDeps) {
    this.#store = deps.store;
    this.#logger = deps.logger;
  }

  /**
   * The mutating step: returns the object to store (the same object when nothing matched).
   * Throws the Status the request fails with: a denial, or a call failure under Fail.
   */
  async mutate(attrs: AdmissionAttributes, object: KubeObject | undefined, old: KubeObject | undefined, warn: WarningSink): Promise<KubeObject | undefined> {
    const hooks = this.#webhooks(attrs, true);
    if (hooks.length === 0) return object;
    const nsLabels = this.#namespaceLabels(attrs, object ?? old);
    let current = object;
    // kube's reinvocation: an IfNeeded webhook runs again (once, after the first pass) when a
    // webhook after it changed the object.
    const reinvoke = new Set<Webhook>();
    let sinceLastChange: Webhook[] = [];
    for (const pass of [1, 2]) {
      if (pass === 2 && reinvoke.size === 0) break;
      for (const w of hooks) {
        if (pass === 2 && !reinvoke.has(w)) continue;
        if (!webhookApplies(w, attrs, current, old, nsLabels)) continue;
        const verdict = await this.#call(w, attrs, current, old, warn);
        if (verdict === undefined) continue;
        if (!verdict.allowed) throw denial(w.name, verdict.status);
        const next = verdict.patch && verdict.patch.length > 0 ? this.#patched(w, attrs, current, verdict.patch) : current;
        if (pass === 1 && !deepEqual(next, current)) {
          for (const earlier of sinceLastChange) reinvoke.add(earlier);
          sinceLastChange = [];
        }
        current = next;
        if (pass === 1 && w.reinvoke) sinceLastChange.push(w);
      }
    }
    return current;
  }

  /** The validating step, on the object as it will be stored (undefined for a delete). */
  async validate(attrs: AdmissionAttributes, object: KubeObject | undefined, old: KubeObject | undefined, warn: WarningSink): Promise<void> {
    const hooks = this.#webhooks(attrs, false);
    if (hooks.length === 0) return;
    const nsLabels = this.#namespaceLabels(attrs, object ?? old);
    // kube calls them in parallel; one after the other gives the same outcome here.
    for (const w of hooks) {
      if (!webhookApplies(w, attrs, object, old, nsLabels)) continue;
      const verdict = await this.#call(w, attrs, object, old, warn);
      if (verdict !== undefined && !verdict.allowed) throw denial(w.name, verdict.status);
    }
  }

  #webhooks(attrs: AdmissionAttributes, mutating: boolean): Webhook[] {
    if (isExempt(attrs)) return [];
    const configs = this.#store.list(CONFIG_KEYS[mutating ? 0 : 1]!).items;
    return configs.length === 0 ? [] : webhooksOf(configs);
  }

  #namespaceLabels(attrs: AdmissionAttributes, object: KubeObject | undefined): Record<string, string> | undefined {
    if (attrs.resource.group === '' && attrs.resource.plural === 'namespaces') return object?.metadata.labels ?? {};
    if (attrs.namespace === '') return undefined;
    const ns = this.#store.get('/namespaces', '', attrs.namespace);
    if (!ns) throw notFound('namespaces', attrs.namespace);
    return ns.metadata.labels ?? {};
  }

  /** Applies a webhook's patch; what it may not do (break the patch, rename, move) fails the request whatever its failurePolicy, as in kube. */
  #patched(w: Webhook, attrs: AdmissionAttributes, object: KubeObject | undefined, patch: unknown[]): KubeObject {
    if (object === undefined)
      throw internalError(`admission webhook ${JSON.stringify(w.name)} attempted to modify the object, which is not supported for this operation`);
    let next: unknown;
    try {
      next = applyJsonPatch(object, patch);
    } catch (err) {
      throw internalError(`admission webhook ${JSON.stringify(w.name)} returned a patch that cannot be applied: ${(err as Error).message}`, err);
    }
    const changed = (path: string, before: unknown, after: unknown): never => {
      throw internalError(`admission webhook ${JSON.stringify(w.name)} may not change ${path} (from ${JSON.stringify(before)} to ${JSON.stringify(after)})`);
    };
    if (!isObject(next) || !isObject(next.metadata)) return changed('the object', 'an object', next);
    const result = next as KubeObject;
    for (const field of ['apiVersion', 'kind'] as const) if (result[field] !== object[field]) changed(field, object[field], result[field]);
    for (const field of ['name', 'namespace'] as const) {
      if (result.metadata[field] !== object.metadata[field]) changed(`metadata.${field}`, object.metadata[field], result.metadata[field]);
    }
    if (attrs.builtin) applyDefaults(result);
    return result;
  }

  /**
   * One call. Resolves with the webhook's verdict, or undefined when the call failed and the
   * webhook's failurePolicy is Ignore; throws the request's Status otherwise.
   */
  async #call(
    w: Webhook,
    attrs: AdmissionAttributes,
    object: KubeObject | undefined,
    old: KubeObject | undefined,
    warn: WarningSink,
  ): Promise<WebhookVerdict | undefined> {
    // kube refuses (400, whatever the failurePolicy) to dry-run a write through a webhook with side effects.
    if (attrs.dryRun && w.sideEffects !== 'None' && w.sideEffects !== 'NoneOnDryRun')
      throw badRequest(`admission webhook ${JSON.stringify(w.name)} does not support dry run`);
    const started = performance.now();
    const uid = randomUUID();
    try {
      const target = this.#target(w);
      const body = Buffer.from(JSON.stringify(admissionReview(uid, attrs, object, old)));
      const verdict = readVerdict(await postAdmissionReview(target, body, w.timeoutSeconds * 1000), uid, w.mutating);
      for (const text of verdict.warnings) warn(text);
      this.#logger?.debug(
        { webhook: w.name, configuration: w.configuration, allowed: verdict.allowed, durationMs: since(started) },
        'admission webhook called',
      );
      return verdict;
    } catch (err) {
      if (!(err instanceof WebhookCallError)) throw err;
      const outcome = w.failurePolicy === 'Ignore' ? 'failed open' : 'failed closed';
      this.#logger?.warn(
        {
          err,
          webhook: w.name,
          configuration: w.configuration,
          operation: attrs.operation,
          resource: attrs.resource.plural,
          outcome,
          durationMs: since(started),
        },
        'admission webhook call failed',
      );
      if (w.failurePolicy === 'Ignore') return undefined;
      throw internalError(`failed calling webhook ${JSON.stringify(w.name)}: ${err.message}`, err);
    }
  }

  /** `url`, or `service` resolved to the first ready endpoint of its EndpointSlices. */
  #target(w: Webhook): WebhookTarget {
    // kube tells the webhook how long it waits, as `?timeout=10s`.
    const query = `?timeout=${w.timeoutSeconds}s`;
    if (w.url !== undefined) {
      const url = new URL(w.url);
      url.search = query;
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      return { href: url.href, host, port: Number(url.port || 443), path: `${url.pathname}${url.search}`, authority: url.host, caPem: w.caPem };
    }
    const ref = w.service!;
    const serverName = `${ref.name}.${ref.namespace}.svc`;
    const path = `${ref.path || '/'}${query}`;
    const href = `https://${serverName}:${ref.port}${path}`;
    const fail = (why: string): never => {
      throw new WebhookCallError(`failed to call webhook: Post ${JSON.stringify(href)}: ${why}`);
    };
    const svc = this.#store.get('/services', ref.namespace, ref.name);
    if (!svc) return fail(`service ${JSON.stringify(ref.name)} not found`);
    const ports = (isObject(svc.spec) && Array.isArray(svc.spec.ports) ? svc.spec.ports : []) as { port?: number; name?: string }[];
    const svcPort = ports.find((p) => p.port === ref.port);
    if (!svcPort) return fail(`no service port ${ref.port} found for service ${JSON.stringify(ref.name)}`);
    for (const slice of this.#store.list('discovery.k8s.io/endpointslices', ref.namespace).items) {
      if (slice.metadata.labels?.[LABEL_SERVICE_NAME] !== ref.name) continue;
      const slicePorts = (Array.isArray(slice.ports) ? slice.ports : []) as { port?: number; name?: string }[];
      const port = slicePorts.find((p) => (p.name ?? '') === (svcPort.name ?? ''))?.port;
      if (port === undefined) continue;
      const endpoints = (Array.isArray(slice.endpoints) ? slice.endpoints : []) as { addresses?: string[]; conditions?: { ready?: boolean } }[];
      const ready = endpoints.find((e) => e.conditions?.ready !== false && (e.addresses ?? []).length > 0);
      if (ready) return { href, host: ready.addresses![0]!, port, path, authority: `${serverName}:${ref.port}`, servername: serverName, caPem: w.caPem };
    }
    return fail(`no endpoints available for service ${JSON.stringify(ref.name)}`);
  }
}

function since(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
