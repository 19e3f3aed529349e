// The HTTP boundary: authentication, impersonation, RBAC authorization, routing, content
// negotiation, admission webhooks around every write, and error → Status rendering. Verb
// semantics live in RestStorage, webhook calls in AdmissionWebhooks; this file only translates
// and puts them in kube-apiserver's order.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ApiError, badRequest, invalid } from '../apimachinery/errors.ts';
import { applyJsonPatch } from '../apimachinery/json-patch.ts';
import type { KubeProtoSchema } from '../apimachinery/kube-proto-schema.ts';
import { applyMergePatch } from '../apimachinery/merge-patch.ts';
import { toTable } from '../apimachinery/table.ts';
import type { KubeObject, ResourceInfo } from '../apimachinery/types.ts';
import { groupVersion } from '../apimachinery/types.ts';
import { type AdmissionAttributes, AdmissionWebhooks, type WarningSink, warningHeader } from './admission-webhooks.ts';
import { AUTHORIZATION_GROUP, accessReview } from './access-review.ts';
import { apiGroup, coreVersions, groupList, resourceList, versionInfo } from './discovery.ts';
import { openApiV2Json, openApiV2Protobuf, openApiV3Index } from './openapi.ts';
import { execRequest, refuseUpgrade, serveExec } from './pod-exec.ts';
import { serveLogs } from './pod-logs.ts';
import { impersonatedUser } from './impersonation.ts';
import { MASTERS_GROUP, authorize, forbidden, storePolicy, type RbacPolicy } from './rbac-authorizer.ts';
import { requestAttributes } from './request-attributes.ts';
import { decodeBody, readBody } from './request-body.ts';
import { pageOf } from './list-pages.ts';
import { parseRequestPath, type ResourceRoute } from './request-path.ts';
import type { DeleteOptions, PatchType, PreparedWrite, RestStorage, WriteCandidate } from './rest-storage.ts';
import { issueToken, reviewToken, type BindingLookup, type SigningKey, type UserInfo } from './service-account-tokens.ts';
import { resourceKey } from './store.ts';
import { serveWatch } from './watch-stream.ts';

export interface HandlerDeps {
  storage: RestStorage;
  adminToken: string;
  signingKey: SigningKey;
  dataDir: string;
  serverAddress: () => string;
  logger: Logger | undefined;
  now?: () => Date;
  bookmarkIntervalMs?: number;
  /** Kubernetes' protobuf message definitions, for `application/vnd.kubernetes.protobuf` bodies. */
  protobufSchema?: () => KubeProtoSchema;
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

type Query = URLSearchParams;

/**
 * Who the admin token authenticates as. Everything the local cluster runs on the host (its
 * controllers, the kubelets, istiod-lite) uses the admin kubeconfig, so they are all this user:
 * a member of `system:masters`, allowed everything whatever the RBAC objects say.
 */
export const ADMIN_USER: UserInfo = { username: 'admin', uid: '', groups: [MASTERS_GROUP, 'system:authenticated'] };

/**
 * How many times a write goes through admission when another write changes its object while
 * webhooks run (kube's GuaranteedUpdate retries the same way); the last attempt's Conflict stands.
 */
const MAX_ADMISSION_ATTEMPTS = 3;

/** Subresources served although discovery does not list them (as in Kubernetes). */
const EXTRA_SUBRESOURCES = new Set(['/pods/binding', '/namespaces/finalize']);

export class ApiHandler {
  readonly #d: HandlerDeps;
  readonly #streams = new Set<() => void>();
  #closing = false;
  readonly #now: () => Date;
  readonly #policy: RbacPolicy;
  readonly #webhooks: AdmissionWebhooks;

  constructor(deps: HandlerDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#policy = storePolicy(deps.storage.store);
    this.#webhooks = new AdmissionWebhooks({ store: deps.storage.store, logger: deps.logger });
  }

  /** Ends every open watch and log stream (server shutdown). */
  /** Ends every open watch/log stream and refuses new requests: a client that reconnects
   *  between this and the server closing must not open a stream that keeps close() waiting. */
  closeStreams(): void {
    this.#closing = true;
    for (const stop of [...this.#streams]) stop();
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.#d.logger?.isLevelEnabled('debug')) {
      res.on('finish', () => this.#d.logger?.debug({ method: req.method, url: req.url, accept: req.headers.accept, status: res.statusCode }, 'request'));
    }
    if (this.#closing) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify(new ApiError('ServiceUnavailable', 'the API server is shutting down').toStatus()));
      return;
    }
    this.#handle(req, res).catch((err: unknown) => this.#fail(req, res, err));
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req);
    const route = parseRequestPath(url.pathname);
    // Health stays open to anyone, as kube's system:public-info-viewer grants it to unauthenticated callers.
    if (route?.kind === 'health') return text(res, 200, 'ok');
    const user = this.#authorized(req, req.method ?? 'GET', url, route);
    const reg = this.#d.storage.registry;
    switch (route?.kind) {
      case 'version':
        return json(res, 200, versionInfo());
      case 'core-versions':
        return json(res, 200, coreVersions(this.#d.serverAddress()));
      case 'groups':
        return json(res, 200, groupList(reg.groups()));
      case 'group': {
        const g = reg.groups().find((x) => x.group === route.group);
        if (!g) throw pageNotFound();
        return json(res, 200, apiGroup(g));
      }
      case 'resource-list': {
        const rs = reg.inGroupVersion(route.group, route.version);
        if (rs.length === 0) throw pageNotFound();
        return json(res, 200, resourceList(route.group, route.version, rs));
      }
      case 'openapi':
        return this.#openApi(req, res, route.path);
      case 'resource':
        return this.#resource(req, res, route, url.searchParams, user);
      default:
        throw pageNotFound();
    }
  }

  #openApi(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === '/openapi/v2' || path === '/swagger.json') {
      if ((req.headers.accept ?? '').includes('protobuf')) {
        res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' });
        res.end(openApiV2Protobuf());
        return;
      }
      json(res, 200, openApiV2Json());
      return;
    }
    if (path === '/openapi/v3') {
      json(res, 200, openApiV3Index());
      return;
    }
    throw pageNotFound();
  }

  async #resource(req: IncomingMessage, res: ServerResponse, route: ResourceRoute, q: Query, user: UserInfo): Promise<void> {
    const { storage } = this.#d;
    const r = storage.registry.lookup(route.group, route.version, route.plural);
    if (!r) throw pageNotFound();
    if (!r.namespaced && route.namespace !== undefined) throw pageNotFound();
    if (r.namespaced && route.name !== undefined && route.namespace === undefined) throw pageNotFound();
    if (
      route.subresource !== undefined &&
      !r.subresources.includes(route.subresource) &&
      !EXTRA_SUBRESOURCES.has(`${r.group}/${r.plural}/${route.subresource}`)
    ) {
      throw pageNotFound();
    }
    const ns = route.namespace ?? '';
    const name = route.name;
    const sub = route.subresource;
    const method = req.method ?? 'GET';
    const dryRun = q.getAll('dryRun').includes('All');
    const fieldManager = q.get('fieldManager') ?? managerFromUserAgent(req.headers['user-agent']);
    const isWatch = route.watch || q.get('watch') === 'true' || q.get('watch') === '1';

    if (method === 'GET') {
      if (isWatch) {
        const stop = serveWatch(
          res,
          storage.store,
          {
            resource: r,
            namespace: route.namespace,
            labelSelector: q.get('labelSelector') ?? undefined,
            fieldSelector: name !== undefined ? `metadata.name=${name}` : (q.get('fieldSelector') ?? undefined),
            resourceVersion: q.get('resourceVersion') ?? undefined,
            allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
            sendInitialEvents: q.get('sendInitialEvents') === 'true',
            timeoutSeconds: q.has('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : undefined,
            table: tableRequest(req, q),
          },
          { bookmarkIntervalMs: this.#d.bookmarkIntervalMs ?? 30_000 },
        );
        this.#track(res, stop);
        return;
      }
      if (name === undefined) {
        const selectors = { labelSelector: q.get('labelSelector') ?? '', fieldSelector: q.get('fieldSelector') ?? '' };
        const all = storage.list(r, route.namespace, selectors);
        const { items, ...listMeta } = pageOf(
          all.items,
          all.resourceVersion,
          { limit: q.get('limit'), continue: q.get('continue') },
          !!(selectors.labelSelector || selectors.fieldSelector),
        );
        const table = tableRequest(req, q);
        if (table) return json(res, 200, toTable(r, items, { includeObject: table.includeObject, now: this.#now(), listMeta }));
        return json(res, 200, { kind: r.listKind, apiVersion: groupVersion(r), metadata: listMeta, items });
      }
      if (sub === 'log') {
        const pod = storage.get(r, ns, name);
        const stop = serveLogs(res, storage.store, this.#d.dataDir, pod, {
          container: q.get('container') ?? undefined,
          follow: q.get('follow') === 'true',
          previous: q.get('previous') === 'true',
          tailLines: q.has('tailLines') ? Number(q.get('tailLines')) : undefined,
        });
        this.#track(res, stop);
        return;
      }
      if (sub === 'scale') return json(res, 200, storage.scale(r, ns, name));
      const obj = storage.get(r, ns, name);
      const table = tableRequest(req, q);
      if (table)
        return json(
          res,
          200,
          toTable(r, [obj], { includeObject: table.includeObject, now: this.#now(), listMeta: { resourceVersion: obj.metadata.resourceVersion ?? '' } }),
        );
      return json(res, 200, obj);
    }

    if (method === 'POST' && name === undefined) {
      if (r.group === AUTHORIZATION_GROUP && (r.plural === 'selfsubjectaccessreviews' || r.plural === 'subjectaccessreviews')) {
        const review = decodeBody(await readBody(req), req.headers['content-type'], this.#d.protobufSchema);
        return json(res, 201, accessReview(r.kind as 'SelfSubjectAccessReview' | 'SubjectAccessReview', review, user, this.#policy));
      }
      if (r.group === 'authentication.k8s.io' && r.plural === 'selfsubjectreviews') {
        await readBody(req); // its spec is empty; any encoding will do
        return json(res, 201, {
          kind: 'SelfSubjectReview',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          status: { userInfo: user },
        });
      }
    }
    const body = decodeBody(await readBody(req), req.headers['content-type'], this.#d.protobufSchema);
    // Acknowledge a write only once it is on disk (group commit: shares an fsync with its neighbours).
    const ack = async (code: number, value: unknown): Promise<void> => {
      await storage.store.durable();
      json(res, code, value);
    };
    const warn: WarningSink = (text) => {
      if (!res.headersSent) res.appendHeader('Warning', warningHeader(text));
    };
    const writeOpts = { dryRun, fieldManager };
    // kube's CreateOptions/UpdateOptions as webhooks see them: what the client asked for.
    const options = (kind: string): Record<string, unknown> => {
      const o: Record<string, unknown> = { kind, apiVersion: 'meta.k8s.io/v1' };
      if (dryRun) o.dryRun = ['All'];
      if (q.get('fieldManager')) o.fieldManager = q.get('fieldManager');
      return o;
    };
    /** Admission attributes of a write on this route; `kind` differs from the resource's for Scale, Binding, TokenRequest. */
    const attributes = (old: KubeObject | undefined, object: KubeObject | undefined, kind?: AdmissionAttributes['kind']): AdmissionAttributes => {
      const operation = object === undefined ? 'DELETE' : old === undefined ? 'CREATE' : 'UPDATE';
      const meta = (object ?? old)?.metadata;
      const objectName = name ?? meta?.name ?? '';
      const isNamespace = r.group === '' && r.plural === 'namespaces';
      return {
        operation,
        resource: r,
        subresource: sub ?? '',
        kind: kind ?? { group: r.group, version: r.version, kind: r.kind },
        // A collection across namespaces (deletecollection) names each item's own.
        namespace: isNamespace ? objectName : ns || (meta?.namespace ?? ''),
        name: objectName,
        user,
        dryRun: operation === 'DELETE' ? deleteOptions(body, q, dryRun).dryRun === true : dryRun,
        options: operation === 'DELETE' ? deleteOptionsObject(body, q, dryRun) : options(operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions'),
        builtin: sub === undefined && storage.registry.isBuiltin(r),
      };
    };
    /** A write whose object is a subresource's own kind, committed by `commit`. */
    const subresourceWrite = (kind: AdmissionAttributes['kind'], commit: (object: KubeObject) => unknown) => ({
      attributes: (old: KubeObject | undefined, object: KubeObject) => attributes(old, object, kind),
      prepare: (object: KubeObject): PreparedWrite => ({ object, current: () => true, commit: () => commit(object) as KubeObject }),
    });
    const scaleWrite = {
      attributes: (old: KubeObject | undefined, object: KubeObject) => attributes(old, object, SCALE_KIND),
      prepare: (object: KubeObject): PreparedWrite => storage.prepareScale(r, ns, name ?? '', object, writeOpts),
    };
    switch (method) {
      case 'POST':
        if (name !== undefined) {
          if (sub === 'token' && r.plural === 'serviceaccounts') {
            const kind = { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };
            const w = subresourceWrite(kind, (object) => this.#tokenRequest(ns, name, object));
            const object = asKubeObject(body, kind, { name, namespace: ns });
            return ack(201, await this.#admitWrite(w.attributes, () => ({ old: undefined, object }), w.prepare, warn));
          }
          if (sub === 'binding' && r.plural === 'pods') {
            const kind = { group: '', version: 'v1', kind: 'Binding' };
            const w = subresourceWrite(kind, (object) => {
              storage.bind(r, ns, name, object);
              return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
            });
            const object = asKubeObject(body, kind, { name, namespace: ns });
            return ack(201, await this.#admitWrite(w.attributes, () => ({ old: undefined, object }), w.prepare, warn));
          }
          throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
        }
        if (r.plural === 'tokenreviews' && r.group === 'authentication.k8s.io') return ack(201, this.#tokenReview(body));
        return ack(
          201,
          await this.#admitWrite(
            attributes,
            () => ({ old: undefined, object: storage.newObject(r, ns, body) }),
            (object) => storage.prepareCreate(r, ns, object, writeOpts),
            warn,
          ),
        );
      case 'PUT': {
        if (name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        if (sub === 'scale') {
          const candidate = (): WriteCandidate => ({ old: storage.scale(r, ns, name), object: asKubeObject(body, SCALE_KIND, {}) });
          return ack(200, await this.#admitWrite(scaleWrite.attributes, candidate, scaleWrite.prepare, warn));
        }
        const storedSub = sub === 'finalize' ? undefined : sub;
        return ack(
          200,
          await this.#admitWrite(
            attributes,
            () => storage.replacement(r, ns, name, body),
            (object, old) => storage.prepareUpdate(r, old!, object, storedSub, writeOpts),
            warn,
          ),
        );
      }
      case 'PATCH': {
        if (name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const type = PATCH_TYPES[ct];
        if (!type)
          throw new ApiError(
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_TYPES).join(', ')}`,
          );
        if (sub === 'scale') {
          const candidate = (): WriteCandidate => {
            const current = storage.scale(r, ns, name);
            const next = type === 'json' ? applyJsonPatch(current, body) : applyMergePatch(current, body);
            return { old: current, object: asKubeObject(next, SCALE_KIND, {}) };
          };
          return ack(200, await this.#admitWrite(scaleWrite.attributes, candidate, scaleWrite.prepare, warn));
        }
        if (type === 'apply' && !q.get('fieldManager')) throw badRequest('PATCH /apply requires fieldManager parameter');
        const opts = { ...writeOpts, force: q.get('force') === 'true' };
        let created = false;
        const object = await this.#admitWrite(
          attributes,
          () => storage.patched(r, ns, name, type, body, sub, opts),
          (next, old) => {
            created = old === undefined;
            return storage.preparePatch(r, ns, type, old, next, sub, opts);
          },
          warn,
        );
        return ack(created ? 201 : 200, object);
      }
      case 'DELETE': {
        const opts = deleteOptions(body, q, dryRun);
        if (name === undefined) {
          // kube admits (and deletes) each item of a collection on its own.
          const { items } = storage.list(r, route.namespace, { labelSelector: q.get('labelSelector') ?? '', fieldSelector: q.get('fieldSelector') ?? '' });
          const deleted: KubeObject[] = [];
          for (const item of items) {
            const a = attributes(item, undefined);
            await this.#webhooks.mutate(a, undefined, item, warn);
            await this.#webhooks.validate(a, undefined, item, warn);
            const { namespace: itemNs = '', name: itemName = '' } = item.metadata;
            if (storage.store.get(resourceKey(r), itemNs, itemName)) deleted.push(storage.delete(r, itemNs, itemName, opts));
          }
          return ack(200, { kind: r.listKind, apiVersion: groupVersion(r), metadata: { resourceVersion: String(storage.store.revision) }, items: deleted });
        }
        return ack(200, await this.#admitDelete(attributes, r, ns, name, opts, warn));
      }
      default:
        throw new ApiError('MethodNotAllowed', `method ${method} is not allowed`);
    }
  }

  /**
   * A write through admission in kube-apiserver's order: mutating webhooks on the object the
   * client sent (defaulted), the storage's defaulting and validation, validating webhooks on
   * the object as it will be stored, the write. When another write changed the object while
   * webhooks ran, it starts over, as kube's GuaranteedUpdate does, a bounded number of times.
   */
  async #admitWrite(
    attributes: (old: KubeObject | undefined, object: KubeObject) => AdmissionAttributes,
    candidate: () => WriteCandidate,
    prepare: (object: KubeObject, old: KubeObject | undefined) => PreparedWrite,
    warn: WarningSink,
  ): Promise<KubeObject> {
    const once = async (): Promise<PreparedWrite> => {
      const { old, object } = candidate();
      const attrs = attributes(old, object);
      const mutated = (await this.#webhooks.mutate(attrs, object, old, warn)) ?? object;
      const write = prepare(mutated, old);
      await this.#webhooks.validate(attrs, write.object, old, warn);
      return write;
    };
    for (let attempt = 1; attempt < MAX_ADMISSION_ATTEMPTS; attempt++) {
      const write = await once();
      if (write.current()) return write.commit();
    }
    return (await once()).commit();
  }

  /** A DELETE through admission (webhooks see the stored object as oldObject), retried like #admitWrite. */
  async #admitDelete(
    attributes: (old: KubeObject | undefined, object: KubeObject | undefined) => AdmissionAttributes,
    r: ResourceInfo,
    ns: string,
    name: string,
    opts: DeleteOptions,
    warn: WarningSink,
  ): Promise<KubeObject> {
    const { storage } = this.#d;
    for (let attempt = 1; attempt <= MAX_ADMISSION_ATTEMPTS; attempt++) {
      const old = storage.get(r, ns, name);
      const attrs = attributes(old, undefined);
      await this.#webhooks.mutate(attrs, undefined, old, warn);
      await this.#webhooks.validate(attrs, undefined, old, warn);
      const now = storage.store.get(resourceKey(r), r.namespaced ? ns : '', name);
      if (now?.metadata.resourceVersion === old.metadata.resourceVersion || attempt === MAX_ADMISSION_ATTEMPTS) break;
    }
    return storage.delete(r, ns, name, opts);
  }

  #tokenRequest(ns: string, saName: string, body: unknown): Record<string, unknown> {
    const { storage } = this.#d;
    const reg = storage.registry;
    const sa = storage.get(reg.lookup('', 'v1', 'serviceaccounts')!, ns, saName);
    const spec = (isObj(body) && isObj(body.spec) ? body.spec : {}) as {
      audiences?: string[];
      expirationSeconds?: number;
      boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string };
    };
    const expirationSeconds = spec.expirationSeconds ?? 3600;
    if (!Number.isInteger(expirationSeconds) || expirationSeconds < 600) {
      throw invalid(
        'TokenRequest',
        saName,
        [
          {
            reason: 'FieldValueInvalid',
            field: 'spec.expirationSeconds',
            message: `Invalid value: ${JSON.stringify(expirationSeconds)}: may not specify a duration less than 10 minutes`,
          },
        ],
        'authentication.k8s.io',
      );
    }
    let pod: KubeObject | undefined;
    let node: { name: string; uid: string } | undefined;
    const ref = spec.boundObjectRef;
    if (ref) {
      if (ref.kind !== 'Pod') {
        throw invalid(
          'TokenRequest',
          saName,
          [
            {
              reason: 'FieldValueNotSupported',
              field: 'spec.boundObjectRef.kind',
              message: `Unsupported value: ${JSON.stringify(ref.kind)}: supported values: "Pod"`,
            },
          ],
          'authentication.k8s.io',
        );
      }
      pod = storage.get(reg.lookup('', 'v1', 'pods')!, ns, ref.name ?? '');
      if (ref.uid && ref.uid !== pod.metadata.uid) {
        throw new ApiError(
          'Conflict',
          `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      }
      // As kube-apiserver: a token is bound only to a pod that runs as that very account, or any
      // caller could mint, say, ztunnel's identity bound to another workload's pod and node.
      const podAccount = (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default';
      if (podAccount !== saName)
        throw badRequest(`cannot bind token for serviceaccount ${JSON.stringify(saName)} to pod running with different serviceaccount name.`);
      const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
      if (nodeName) {
        const nodeObj = storage.store.get('/nodes', '', nodeName);
        node = { name: nodeName, uid: nodeObj?.metadata.uid ?? '' };
      }
    }
    const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : undefined;
    const { token, expirationTimestamp } = issueToken({
      key: this.#d.signingKey,
      serviceAccount: sa,
      pod,
      node,
      audiences: audiences ?? ['https://kubernetes.default.svc.cluster.local'],
      expirationSeconds,
      now: this.#now(),
    });
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: saName, namespace: ns, creationTimestamp: null },
      spec: { ...spec, audiences: audiences ?? ['https://kubernetes.default.svc.cluster.local'], expirationSeconds, boundObjectRef: ref ?? null },
      status: { token, expirationTimestamp },
    };
  }

  #tokenReview(body: unknown): Record<string, unknown> {
    const spec = (isObj(body) && isObj(body.spec) ? body.spec : {}) as { token?: string; audiences?: string[] };
    if (typeof spec.token !== 'string' || spec.token === '') {
      throw invalid('TokenReview', '', [{ reason: 'FieldValueRequired', field: 'spec.token', message: 'Required value' }], 'authentication.k8s.io');
    }
    const result = reviewToken(spec.token, { key: this.#d.signingKey, audiences: spec.audiences, now: this.#now(), lookup: this.#lookup() });
    const status = result.authenticated ? { authenticated: true, user: result.user, audiences: result.audiences } : { user: {}, error: result.error };
    return { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status };
  }

  #lookup(): BindingLookup {
    const store = this.#d.storage.store;
    return {
      serviceAccount: (ns, name) => store.get('/serviceaccounts', ns, name),
      pod: (ns, name) => store.get('/pods', ns, name),
    };
  }

  /** Who the request is from (after impersonation), once RBAC allows `method` on the target. */
  #authorized(req: IncomingMessage, method: string, url: URL, route: ReturnType<typeof parseRequestPath>): UserInfo {
    const caller = this.#authenticate(req);
    const policy = this.#policy;
    const user = impersonatedUser(caller, req.headersDistinct, (attrs) => authorize(caller, attrs, policy).allowed);
    const attrs = requestAttributes(method, url.pathname, route, url.searchParams);
    if (!authorize(user, attrs, policy).allowed) throw forbidden(user.username, attrs);
    return user;
  }

  /**
   * HTTP upgrades: `pods/exec` over WebSocket (pod-exec.ts). Authorized as `create` on
   * pods/exec whatever the method, as kube-apiserver does for a WebSocket GET.
   */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    try {
      if (this.#closing) throw new ApiError('ServiceUnavailable', 'the API server is shutting down');
      const url = requestUrl(req);
      const route = parseRequestPath(url.pathname);
      if (route?.kind !== 'resource' || route.group !== '' || route.plural !== 'pods' || route.subresource !== 'exec' || !route.name) {
        throw badRequest(`no upgrade is served at ${url.pathname} (only pods/exec, over WebSocket)`);
      }
      this.#authorized(req, 'POST', url, route);
      const pod = this.#d.storage.get(this.#d.storage.registry.lookup('', 'v1', 'pods')!, route.namespace ?? '', route.name);
      serveExec(req, socket, head, execRequest(pod, url.searchParams));
    } catch (err) {
      refuseUpgrade(
        socket,
        err instanceof ApiError ? err : new ApiError('InternalError', `internal error: ${(err as Error).message}`, undefined, { cause: err }),
      );
    }
  };

  /** The admin token (ADMIN_USER) or a ServiceAccount token this server issued for its own audience. */
  #authenticate(req: IncomingMessage): UserInfo {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (m) {
      const token = m[1]!;
      const a = Buffer.from(token);
      const b = Buffer.from(this.#d.adminToken);
      if (a.length === b.length && timingSafeEqual(a, b)) return ADMIN_USER;
      if (token.includes('.')) {
        const review = reviewToken(token, { key: this.#d.signingKey, now: this.#now(), lookup: this.#lookup() });
        if (review.authenticated) return review.user;
      }
    }
    throw new ApiError('Unauthorized', 'Unauthorized');
  }

  #track(res: ServerResponse, stop: () => void): void {
    this.#streams.add(stop);
    res.on('close', () => this.#streams.delete(stop));
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const apiErr =
      err instanceof ApiError ? err : new ApiError('InternalError', `internal error: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err });
    if (apiErr.code >= 500) this.#d.logger?.error({ err, method: req.method, url: req.url }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    // Drain an unread body so the connection can be reused.
    req.resume();
    json(res, apiErr.code, apiErr.toStatus());
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': bytes.length, 'Cache-Control': 'no-cache, private' });
  res.end(bytes);
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

/**
 * The request target, an origin-form path, joined to a base: never parsed as a URL of its own
 * (a target starting with `//` would otherwise name a host).
 */
function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) throw badRequest(`invalid request target ${JSON.stringify(target.slice(0, 100))}`);
  try {
    return new URL(`https://localhost${target}`);
  } catch {
    throw badRequest(`invalid request target ${JSON.stringify(target.slice(0, 100))}`);
  }
}

function pageNotFound(): ApiError {
  return new ApiError('NotFound', 'the server could not find the requested resource', {});
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` → Table rendering wanted. */
function tableRequest(req: IncomingMessage, q: Query): { includeObject: 'None' | 'Metadata' | 'Object' } | undefined {
  const accept = req.headers.accept ?? '';
  const first = accept.split(',')[0] ?? '';
  if (!/as=Table/.test(first) || !/g=meta\.k8s\.io/.test(first)) return undefined;
  const inc = q.get('includeObject');
  return { includeObject: inc === 'None' || inc === 'Object' ? inc : 'Metadata' };
}

/** Kubernetes names an Update's manager after the client's user agent (`kubectl`, `node`...). */
function managerFromUserAgent(ua: string | undefined): string {
  const name = (ua ?? '').split('/')[0]?.trim();
  return name ? name : 'unknown';
}

const SCALE_KIND = { group: 'autoscaling', version: 'v1', kind: 'Scale' };

/** A request body (none = `{}`) as the object webhooks see: its kind filled in, metadata defaulting to `meta`. */
function asKubeObject(body: unknown, kind: { group: string; version: string; kind: string }, meta: KubeObject['metadata']): KubeObject {
  body ??= {};
  if (!isObj(body)) throw badRequest(`the body of the request must be a json object, got ${body === null ? 'null' : typeof body}`);
  return {
    ...body,
    apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version,
    kind: kind.kind,
    metadata: { ...meta, ...(isObj(body.metadata) ? body.metadata : {}) },
  };
}

/** The DeleteOptions (meta.k8s.io/v1) webhooks see: what the body and query asked for. */
function deleteOptionsObject(body: unknown, q: Query, dryRun: boolean): Record<string, unknown> {
  const b = isObj(body) ? body : {};
  const o: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' };
  if (dryRun || (Array.isArray(b.dryRun) && b.dryRun.includes('All'))) o.dryRun = ['All'];
  const policy = b.propagationPolicy ?? q.get('propagationPolicy');
  if (policy) o.propagationPolicy = policy;
  const grace = b.gracePeriodSeconds ?? q.get('gracePeriodSeconds');
  if (grace !== undefined && grace !== null) o.gracePeriodSeconds = Number(grace);
  if (isObj(b.preconditions)) o.preconditions = b.preconditions;
  return o;
}

function deleteOptions(body: unknown, q: Query, dryRun: boolean): DeleteOptions {
  const b = isObj(body) ? body : {};
  const policy = (b.propagationPolicy ?? q.get('propagationPolicy') ?? undefined) as DeleteOptions['propagationPolicy'];
  if (policy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
    throw badRequest(`invalid propagationPolicy: ${String(policy)}`);
  }
  const opts: DeleteOptions = { dryRun: dryRun || (Array.isArray(b.dryRun) && b.dryRun.includes('All')) };
  if (policy) opts.propagationPolicy = policy;
  if (b.orphanDependents === true || q.get('orphanDependents') === 'true') opts.propagationPolicy = 'Orphan';
  const grace = b.gracePeriodSeconds ?? q.get('gracePeriodSeconds');
  if (grace !== undefined && grace !== null) opts.gracePeriodSeconds = Number(grace);
  if (isObj(b.preconditions)) opts.preconditions = b.preconditions as DeleteOptions['preconditions'];
  return opts;
}
