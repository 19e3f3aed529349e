// The semantics of the REST verbs on top of Store: create/update/patch/delete with
// defaulting, validation, optimistic concurrency, status subresources, generation,
// finalizers, namespace lifecycle, ownerReference garbage collection and Service ClusterIPs.
// Both the HTTP layer and in-process callers go through here. A write comes in two steps so
// that admission webhooks (asynchronous) fit between them as in kube-apiserver: the object the
// client sent (`newObject`, `replacement`, `patched`), which mutating webhooks may change, then
// a `PreparedWrite` (defaulted, validated, not stored) that validating webhooks see before it
// is committed. In-process callers use the one-step create/update/patch.
import { randomUUID } from 'node:crypto';
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound, type StatusCause } from '../apimachinery/errors.ts';
import { parseFieldSelector } from '../apimachinery/field-selector.ts';
import { applyJsonPatch } from '../apimachinery/json-patch.ts';
import { deepEqual } from '../apimachinery/json-value.ts';
import { parseLabelSelector } from '../apimachinery/label-selector.ts';
import { applyMergePatch } from '../apimachinery/merge-patch.ts';
import { validateAgainstSchema, pruneUnknownFields } from '../apimachinery/schema-validate.ts';
import { recordUpdateManager, serverSideApply } from '../apimachinery/server-side-apply.ts';
import { applyStrategicMergePatch } from '../apimachinery/strategic-merge-patch.ts';
import { groupVersion, type KubeObject, type ResourceInfo } from '../apimachinery/types.ts';
import { ClusterIpAllocator } from './cluster-ip-allocator.ts';
import { listKey } from './list-pages.ts';
import { applyDefaults, nameCauses, validateBuiltin } from './object-rules.ts';
import type { ResourceRegistry } from './resource-registry.ts';
import { resourceKey, type Store } from './store.ts';

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  /** Server-side apply only. */
  force?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

const NS = resourceKey({ group: '', plural: 'namespaces' });
const CRDS = resourceKey({ group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions' });
const SERVICES = resourceKey({ group: '', plural: 'services' });
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

type Obj = Record<string, unknown>;

/** A write that passed defaulting and validation and is not stored yet. */
export interface PreparedWrite {
  /** The object as it will be stored and answered (what validating admission sees). */
  readonly object: KubeObject;
  /** Whether the store still holds what the write replaces (nothing, for a create). */
  current(): boolean;
  /** Stores it (a dry run stores nothing); Conflict or AlreadyExists when no longer current. */
  commit(): KubeObject;
}

/** What a write starts from, before admission: the stored object (none for a create) and the new one. */
export interface WriteCandidate {
  old: KubeObject | undefined;
  object: KubeObject;
}

export class RestStorage {
  readonly store: Store;
  readonly registry: ResourceRegistry;
  readonly #ips = new ClusterIpAllocator();
  readonly #now: () => Date;
  readonly #caCertPem: string;

  constructor(store: Store, registry: ResourceRegistry, opts: { caCertPem: string; now?: () => Date }) {
    this.store = store;
    this.registry = registry;
    this.#now = opts.now ?? (() => new Date());
    this.#caCertPem = opts.caCertPem;
    for (const crd of store.list(CRDS).items) registry.setCrd(crd);
    for (const svc of store.list(SERVICES).items) for (const ip of serviceIps(svc)) this.#ips.reserve(ip);
  }

  get(r: ResourceInfo, namespace: string, name: string): KubeObject {
    const obj = this.store.get(resourceKey(r), r.namespaced ? namespace : '', name);
    if (!obj) throw notFound(r.plural, name, r.group);
    return present(r, obj);
  }

  list(
    r: ResourceInfo,
    namespace: string | undefined,
    selectors: { labelSelector?: string; fieldSelector?: string } = {},
  ): { items: KubeObject[]; resourceVersion: string } {
    const labels = parseLabelSelector(selectors.labelSelector ?? '');
    const fields = parseFieldSelector(selectors.fieldSelector ?? '');
    const { items, resourceVersion } = this.store.list(resourceKey(r), r.namespaced ? namespace : undefined);
    const matching = items.filter((o) => labels(o.metadata.labels) && fields(o)).map((o) => present(r, o));
    matching.sort((a, b) => compareKeys(a, b));
    return { items: matching, resourceVersion };
  }

  create(r: ResourceInfo, namespace: string, body: unknown, opts: WriteOptions = {}): KubeObject {
    return this.prepareCreate(r, namespace, this.newObject(r, namespace, body), opts).commit();
  }

  /**
   * What a create admits: the body checked against the resource and, for a built-in kind,
   * defaulted (kube's decoder defaults before admission), in a namespace that takes new objects.
   */
  newObject(r: ResourceInfo, namespace: string, body: unknown): KubeObject {
    const obj = this.#checkBody(r, body, namespace);
    if (r.namespaced) this.#checkNamespaceWritable(namespace);
    return this.#defaulted(r, obj);
  }

  prepareCreate(r: ResourceInfo, namespace: string, object: KubeObject, opts: WriteOptions = {}): PreparedWrite {
    const obj = this.#checkBody(r, object, namespace);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    if (!meta.name) throw invalid(r.kind, '', nameCauses(r.kind, undefined), r.group);
    const key = resourceKey(r);
    const ns = r.namespaced ? namespace : '';
    if (r.namespaced) this.#checkNamespaceWritable(ns);
    if (this.store.get(key, ns, meta.name)) throw alreadyExists(r.plural, meta.name, r.group);
    const now = this.#timestamp();
    for (const k of ['resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'] as const) delete meta[k];
    meta.uid = randomUUID();
    meta.creationTimestamp = now;
    meta.generation = 1;
    if (r.subresources.includes('status') && !this.registry.isBuiltin(r)) delete obj.status;
    if (r.kind === 'Pod' && r.group === '') obj.status = { phase: 'Pending' };
    return this.#prepare(r, undefined, obj, opts);
  }

  /** PUT. `subresource` 'status' changes only the status; the main resource leaves it alone. */
  update(r: ResourceInfo, namespace: string, name: string, body: unknown, subresource: string | undefined, opts: WriteOptions = {}): KubeObject {
    const { old, object } = this.replacement(r, namespace, name, body);
    return this.prepareUpdate(r, old, object, subresource, opts).commit();
  }

  /** What a PUT admits: the stored object and the (defaulted) body that replaces it. */
  replacement(r: ResourceInfo, namespace: string, name: string, body: unknown): { old: KubeObject; object: KubeObject } {
    const old = this.get(r, namespace, name);
    const obj = this.#checkBody(r, body, namespace);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    return { old, object: this.#defaulted(r, obj) };
  }

  patch(
    r: ResourceInfo,
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    subresource: string | undefined,
    opts: WriteOptions = {},
  ): { object: KubeObject; created: boolean } {
    const { old, object } = this.patched(r, namespace, name, type, patch, subresource, opts);
    return { object: this.preparePatch(r, namespace, type, old, object, subresource, opts).commit(), created: old === undefined };
  }

  /** The write a PATCH makes of its (admitted) object: an update, or a create for an apply of a missing object. */
  preparePatch(
    r: ResourceInfo,
    namespace: string,
    type: PatchType,
    old: KubeObject | undefined,
    object: KubeObject,
    subresource: string | undefined,
    opts: WriteOptions,
  ): PreparedWrite {
    // Server-side apply records its own managed fields; the others record an Update entry.
    const o = type === 'apply' ? { ...opts, fieldManager: undefined } : opts;
    return old ? this.prepareUpdate(r, old, object, subresource, o) : this.prepareCreate(r, namespace, object, o);
  }

  /** What a PATCH admits: the stored object (none when an apply creates it) and the patched one. */
  patched(
    r: ResourceInfo,
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    subresource: string | undefined,
    opts: WriteOptions = {},
  ): WriteCandidate {
    const key = resourceKey(r);
    const stored = this.store.get(key, r.namespaced ? namespace : '', name);
    const manager = opts.fieldManager ?? 'unknown';
    const now = this.#timestamp();
    if (type === 'apply') {
      const applied = this.#checkBody(r, patch, namespace);
      applied.metadata.name ??= name;
      if (applied.metadata.name !== name) throw badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`);
      if (!stored) {
        if (subresource) throw notFound(r.plural, name, r.group);
        const fresh = serverSideApply(undefined, applied, { manager, force: opts.force ?? false, kind: r.kind, now });
        return { old: undefined, object: this.newObject(r, namespace, fresh) };
      }
      const old = present(r, stored);
      return { old, object: this.#defaulted(r, serverSideApply(old, applied, { manager, force: opts.force ?? false, kind: r.kind, now })) };
    }
    if (!stored) throw notFound(r.plural, name, r.group);
    const old = present(r, stored);
    let next: unknown;
    switch (type) {
      case 'merge':
        next = applyMergePatch(old, patch);
        break;
      case 'strategic':
        if (!this.registry.isBuiltin(r)) {
          throw new ApiError(
            'UnsupportedMediaType',
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          );
        }
        if (!isObj(patch)) throw badRequest('strategic merge patch must be a json object');
        next = applyStrategicMergePatch(old, patch, r.kind);
        break;
      case 'json':
        next = applyJsonPatch(old, patch);
        break;
    }
    return { old, object: this.#defaulted(r, this.#checkBody(r, next, namespace)) };
  }

  delete(r: ResourceInfo, namespace: string, name: string, opts: DeleteOptions = {}): KubeObject {
    const obj = this.get(r, namespace, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== obj.metadata.uid) {
      throw new ApiError('Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`, {
        name,
        group: r.group,
        kind: r.plural,
      });
    }
    if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw new ApiError(
        'Conflict',
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`,
        { name, group: r.group, kind: r.plural },
      );
    }
    if (r.group === '' && r.plural === 'namespaces' && PROTECTED_NAMESPACES.has(name)) {
      throw new ApiError('Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    }
    if (opts.dryRun) return obj;
    return this.#delete(resourceKey(r), obj, opts.propagationPolicy ?? 'Background');
  }

  /** pods/binding: what the scheduler posts to place a pod on a node. */
  bind(r: ResourceInfo, namespace: string, name: string, binding: unknown): void {
    const target = isObj(binding) && isObj(binding.target) ? binding.target : undefined;
    if (typeof target?.name !== 'string' || target.name === '') {
      throw invalid('Binding', name, [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
    }
    const pod = this.get(r, namespace, name);
    const spec = (pod.spec ?? {}) as Obj;
    if (spec.nodeName)
      throw new ApiError(
        'Conflict',
        `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${String(spec.nodeName)}"`,
        { name, kind: 'pods/binding' },
      );
    this.prepareUpdate(r, pod, { ...pod, spec: { ...spec, nodeName: target.name } }, undefined, {}).commit();
  }

  /** The autoscaling/v1 Scale view of a workload. */
  scale(r: ResourceInfo, namespace: string, name: string): KubeObject {
    return scaleOf(this.get(r, namespace, name));
  }

  setScale(r: ResourceInfo, namespace: string, name: string, scale: unknown, opts: WriteOptions = {}): KubeObject {
    return this.prepareScale(r, namespace, name, scale, opts).commit();
  }

  /** A PUT or PATCH of `/scale`: the Scale it answers with, and the workload's write behind it. */
  prepareScale(r: ResourceInfo, namespace: string, name: string, scale: unknown, opts: WriteOptions = {}): PreparedWrite {
    const replicas = isObj(scale) && isObj(scale.spec) ? scale.spec.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid(
        'Scale',
        name,
        [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0` }],
        'autoscaling',
      );
    }
    const obj = this.get(r, namespace, name);
    const rv = isObj(scale) && isObj(scale.metadata) ? scale.metadata.resourceVersion : undefined;
    if (typeof rv === 'string' && rv !== '' && rv !== obj.metadata.resourceVersion) throw conflict(r.plural, name, r.group);
    const write = this.prepareUpdate(r, obj, { ...obj, spec: { ...(obj.spec as Obj), replicas } }, undefined, opts);
    return { object: scaleOf(write.object), current: () => write.current(), commit: () => scaleOf(write.commit()) };
  }

  /** Body checks shared by every write: an object of this resource's kind and namespace. */
  #checkBody(r: ResourceInfo, body: unknown, namespace: string): KubeObject {
    if (!isObj(body)) throw badRequest(`the body of the request must be a json object, got ${body === null ? 'null' : typeof body}`);
    const obj = structuredClone(body) as KubeObject;
    const gv = groupVersion(r);
    if (obj.kind !== undefined && obj.kind !== r.kind) {
      throw badRequest(`the kind of the object (${String(obj.kind)}) does not match the kind served here (${r.kind})`);
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== gv) {
      throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${gv})`);
    }
    obj.kind = r.kind;
    obj.apiVersion = gv;
    obj.metadata = isObj(obj.metadata) ? obj.metadata : {};
    if (r.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== namespace) {
        throw badRequest(`the namespace of the provided object (${obj.metadata.namespace}) does not match the namespace sent on the request (${namespace})`);
      }
      obj.metadata.namespace = namespace;
    } else {
      delete obj.metadata.namespace;
    }
    return obj;
  }

  /** The write that replaces `old` (as stored when the request began) with `object`. */
  prepareUpdate(r: ResourceInfo, old: KubeObject, object: KubeObject, subresource: string | undefined, opts: WriteOptions = {}): PreparedWrite {
    const obj = this.#checkBody(r, object, old.metadata.namespace ?? '');
    const rv = obj.metadata.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) throw conflict(r.plural, old.metadata.name ?? '', r.group);
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...structuredClone(old), status: obj.status };
      if (obj.status === undefined) delete next.status;
    } else {
      next = obj;
      if (r.subresources.includes('status')) {
        if (old.status === undefined) delete next.status;
        else next.status = structuredClone(old.status);
      }
      const m = old.metadata;
      next.metadata = {
        ...next.metadata,
        name: m.name,
        uid: m.uid,
        creationTimestamp: m.creationTimestamp,
        generation: m.generation,
      };
      if (m.namespace !== undefined) next.metadata.namespace = m.namespace;
      for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generateName'] as const) {
        if (m[k] === undefined) delete next.metadata[k];
        else (next.metadata as Record<string, unknown>)[k] = m[k];
      }
    }
    return this.#prepare(r, old, next, opts);
  }

  /** Built-in kinds defaulted, as kube's decoder hands them to admission. */
  #defaulted(r: ResourceInfo, obj: KubeObject): KubeObject {
    if (this.registry.isBuiltin(r)) applyDefaults(obj);
    return obj;
  }

  /** Validates and defaults a new state of an object (old undefined = create); storing it is the commit. */
  #prepare(r: ResourceInfo, old: KubeObject | undefined, obj: KubeObject, opts: WriteOptions): PreparedWrite {
    let next = obj;
    const name = next.metadata.name ?? '';
    if (this.registry.isBuiltin(r)) {
      applyDefaults(next);
      const causes = validateBuiltin(next, old);
      if (r.plural === 'customresourcedefinitions') causes.push(...crdCauses(next));
      if (causes.length > 0) throw invalid(r.kind, name, causes, r.group);
    } else {
      const causes: StatusCause[] = nameCauses(r.kind, name);
      if (r.schema) causes.push(...validateAgainstSchema(next, r.schema));
      if (causes.length > 0) throw invalid(r.kind, name, causes, r.group);
      if (r.schema) next = pruneUnknownFields(next, r.schema);
    }
    if (opts.fieldManager) next = recordUpdateManager(old, next, { manager: opts.fieldManager, now: this.#timestamp() });
    if (old && specChanged(old, next)) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    const key = resourceKey(r);
    const ns = next.metadata.namespace ?? '';
    const current = (): boolean => {
      const now = this.store.get(key, ns, name);
      return old ? now?.metadata.resourceVersion === old.metadata.resourceVersion : now === undefined;
    };
    const checkCurrent = (): void => {
      if (!current()) throw old ? conflict(r.plural, name, r.group) : alreadyExists(r.plural, name, r.group);
    };
    if (old && unchanged(old, next)) {
      return {
        object: old,
        current,
        commit: () => {
          checkCurrent();
          return old;
        },
      };
    }
    // A new Service's address is chosen (and checked free) now and taken at commit.
    const autoIp = key === SERVICES && !old && !(next.spec as Obj | undefined)?.clusterIP;
    if (key === SERVICES) this.#assignClusterIp(next, old);
    if (key === CRDS) next.status = crdStatus(next, old, this.#timestamp());
    return {
      object: present(r, next),
      current,
      commit: () => {
        checkCurrent();
        if (opts.dryRun) return present(r, next);
        if (key === SERVICES && !old) this.#takeClusterIp(next, autoIp);
        if (old?.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
          return present(r, this.#remove(key, next, 'Background'));
        }
        const stored = this.store.put(key, next);
        if (!old && key === NS) this.#populateNamespace(name);
        if (key === CRDS) this.registry.setCrd(stored);
        return present(r, stored);
      },
    };
  }

  /** Takes the address chosen at prepare; one picked automatically and taken since is picked again. */
  #takeClusterIp(svc: KubeObject, auto: boolean): void {
    const spec = svc.spec as Obj;
    for (const ip of serviceIps(svc)) {
      try {
        this.#ips.allocate(ip);
      } catch (err) {
        if (!auto) throw err;
        spec.clusterIP = this.#ips.allocate(undefined);
        spec.clusterIPs = [spec.clusterIP];
      }
    }
  }

  #assignClusterIp(svc: KubeObject, old: KubeObject | undefined): void {
    const spec = svc.spec as Obj;
    if (old) {
      const oldIp = (old.spec as Obj | undefined)?.clusterIP;
      if (!spec.clusterIP) spec.clusterIP = oldIp;
      if (spec.clusterIP !== oldIp) {
        throw invalid('Service', svc.metadata.name ?? '', [
          { reason: 'FieldValueInvalid', field: 'spec.clusterIP', message: `Invalid value: "${String(spec.clusterIP)}": field is immutable` },
        ]);
      }
    } else if (spec.type === 'ExternalName') {
      return;
    } else if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
    } else {
      spec.clusterIP = this.#ips.allocate(typeof spec.clusterIP === 'string' ? spec.clusterIP : undefined);
      this.#ips.release(spec.clusterIP as string);
      spec.clusterIPs = [spec.clusterIP];
    }
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    spec.internalTrafficPolicy ??= 'Cluster';
  }

  /** Every namespace gets a default ServiceAccount and the cluster CA bundle, as in Kubernetes. */
  #populateNamespace(ns: string): void {
    const core = (plural: string): ResourceInfo => this.registry.lookup('', 'v1', plural)!;
    this.create(core('serviceaccounts'), ns, { metadata: { name: 'default' } });
    this.create(core('configmaps'), ns, {
      metadata: {
        name: 'kube-root-ca.crt',
        annotations: {
          'kubernetes.io/description':
            'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
        },
      },
      data: { 'ca.crt': this.#caCertPem },
    });
  }

  #checkNamespaceWritable(ns: string): void {
    const nsObj = this.store.get(NS, '', ns);
    if (!nsObj) throw notFound('namespaces', ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw new ApiError('Forbidden', `unable to create new content in namespace ${ns} because it is being terminated`, { name: ns, kind: 'namespaces' });
    }
  }

  /** Starts deleting: with finalizers only marks the object; otherwise removes it. */
  #delete(key: string, obj: KubeObject, policy: NonNullable<DeleteOptions['propagationPolicy']>): KubeObject {
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    const current = this.store.get(key, ns, name);
    if (!current) return obj;
    if (key === NS) {
      const marked = current.metadata.deletionTimestamp
        ? current
        : this.store.put(key, {
            ...current,
            metadata: { ...current.metadata, deletionTimestamp: this.#timestamp(), deletionGracePeriodSeconds: 0 },
            status: { phase: 'Terminating' },
          });
      for (const resource of this.store.resourcesIn(name)) {
        for (const o of this.store.list(resource, name).items) this.#delete(resource, o, 'Background');
      }
      return this.#finishNamespace(name) ?? marked;
    }
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (current.metadata.deletionTimestamp) return current;
      return this.store.put(key, { ...current, metadata: { ...current.metadata, deletionTimestamp: this.#timestamp(), deletionGracePeriodSeconds: 0 } });
    }
    return this.#remove(key, current, policy);
  }

  /** Removes an object for good and lets its dependents, CRD instances and namespace follow. */
  #remove(key: string, obj: KubeObject, policy: NonNullable<DeleteOptions['propagationPolicy']>): KubeObject {
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    const removed = this.store.remove(key, ns, name) ?? obj;
    if (key === SERVICES) for (const ip of serviceIps(removed)) this.#ips.release(ip);
    if (key === CRDS) this.#removeCrd(removed);
    for (const dep of this.store.dependentsOf(removed.metadata.uid ?? '')) {
      const d = this.store.get(dep.resource, dep.namespace, dep.name);
      if (!d) continue;
      const refs = (d.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== removed.metadata.uid);
      if (policy === 'Orphan' || refs.length > 0) {
        const { ownerReferences: _old, ...metadata } = d.metadata;
        if (refs.length > 0) metadata.ownerReferences = refs;
        this.store.put(dep.resource, { ...d, metadata });
      } else {
        this.#delete(dep.resource, d, 'Background');
      }
    }
    if (ns) {
      const nsObj = this.store.get(NS, '', ns);
      if (nsObj?.metadata.deletionTimestamp) this.#finishNamespace(ns);
    }
    return removed;
  }

  #finishNamespace(ns: string): KubeObject | undefined {
    if (this.store.resourcesIn(ns).length > 0) return undefined;
    return this.store.remove(NS, '', ns);
  }

  #removeCrd(crd: KubeObject): void {
    const spec = crd.spec as { group?: string; names?: { plural?: string } } | undefined;
    const key = resourceKey({ group: spec?.group ?? '', plural: spec?.names?.plural ?? '' });
    this.registry.removeCrd(crd.metadata.name ?? '');
    for (const o of this.store.list(key).items) this.store.remove(key, o.metadata.namespace ?? '', o.metadata.name ?? '');
  }

  #timestamp(): string {
    return this.#now()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
  }
}

/** Objects are stored with the apiVersion they were written as; serve them as requested. */
function present(r: ResourceInfo, obj: KubeObject): KubeObject {
  const gv = groupVersion(r);
  return obj.apiVersion === gv ? obj : { ...obj, apiVersion: gv };
}

/** The autoscaling/v1 Scale view of a workload. */
function scaleOf(obj: KubeObject): KubeObject {
  const spec = (obj.spec ?? {}) as Obj;
  const status = (obj.status ?? {}) as Obj;
  const sel = isObj(spec.selector) && isObj(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 0 },
    status: {
      replicas: status.replicas ?? 0,
      selector: Object.entries(sel)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
    },
  };
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function compareKeys(a: KubeObject, b: KubeObject): number {
  const ka = listKey(a);
  const kb = listKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_SUFFIX_ALPHABET[Math.floor(Math.random() * NAME_SUFFIX_ALPHABET.length)];
  return s;
}

function serviceIps(svc: KubeObject): string[] {
  const spec = (svc.spec ?? {}) as Obj;
  const ips = Array.isArray(spec.clusterIPs) ? (spec.clusterIPs as string[]) : [spec.clusterIP as string];
  return ips.filter((ip) => typeof ip === 'string' && ip !== 'None');
}

/** Anything outside metadata and status changed: the generation moves. */
function specChanged(old: KubeObject, next: KubeObject): boolean {
  const strip = (o: KubeObject): Obj => {
    const { metadata: _m, status: _s, ...rest } = o;
    return rest;
  };
  return !deepEqual(strip(old), strip(next));
}

/** Writes that change nothing (ignoring managedFields timestamps) are not stored, as in Kubernetes. */
function unchanged(old: KubeObject, next: KubeObject): boolean {
  const strip = (o: KubeObject): KubeObject => {
    const { managedFields: _mf, resourceVersion: _rv, ...metadata } = o.metadata;
    return { ...o, metadata };
  };
  return deepEqual(strip(old), strip(next));
}

function crdCauses(crd: KubeObject): StatusCause[] {
  const spec = (crd.spec ?? {}) as { group?: string; names?: { plural?: string; kind?: string }; versions?: unknown[] };
  const causes: StatusCause[] = [];
  const expected = `${spec.names?.plural ?? ''}.${spec.group ?? ''}`;
  if (!spec.group) causes.push({ reason: 'FieldValueRequired', field: 'spec.group', message: 'Required value' });
  if (!spec.names?.plural) causes.push({ reason: 'FieldValueRequired', field: 'spec.names.plural', message: 'Required value' });
  if (!spec.names?.kind) causes.push({ reason: 'FieldValueRequired', field: 'spec.names.kind', message: 'Required value' });
  if (!Array.isArray(spec.versions) || spec.versions.length === 0)
    causes.push({ reason: 'FieldValueRequired', field: 'spec.versions', message: 'Required value' });
  if (causes.length === 0 && crd.metadata.name !== expected) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: "${crd.metadata.name}": must be spec.names.plural+"."+spec.group`,
    });
  }
  return causes;
}

/** Accepts a CRD at once (names are not checked for conflicts); keeps earlier condition times. */
function crdStatus(crd: KubeObject, old: KubeObject | undefined, now: string): Obj {
  const spec = (crd.spec ?? {}) as { names?: Obj; versions?: { name: string; storage?: boolean }[] };
  const previous = (old?.status as { conditions?: Obj[] } | undefined)?.conditions;
  if (previous) now = String(previous[0]?.lastTransitionTime ?? now);
  const condition = (type: string, reason: string, message: string): Obj => ({ type, status: 'True', lastTransitionTime: now, reason, message });
  return {
    conditions: [
      condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    acceptedNames: spec.names ?? {},
    storedVersions: (spec.versions ?? []).filter((v) => v.storage).map((v) => v.name),
  };
}
