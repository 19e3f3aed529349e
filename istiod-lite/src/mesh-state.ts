// Turns the watched Kubernetes objects into what the discovery server sends: recomputes the
// model on (debounced) change, versions each resource by content, keeps the same
// VersionedResource object while a resource is unchanged, and tells the discovery server
// exactly which names changed.
//
// Sidecar configs (one per injected pod) all carry the same services: they are versioned by a
// hash of that shared part and their own few fields, so a thousand sidecars do not mean a
// thousand serializations of the mesh's service list per model.
import { createHash } from 'node:crypto';
import { typeUrls } from '@ambient/api';
import type { MeshInputs, MeshOptions } from './model/inputs.ts';
import { buildMeshModel, resourcesForProxy, type MeshModel } from './model/mesh-model.ts';
import type { ProxyNode, ResourceChange, ResourceSource, VersionedResource } from './xds/resource-source.ts';

type Versioned = Map<string, VersionedResource>;

/** Payloads are never mutated once built, so an object's version is computed once (the model reuses unchanged ones). */
const versions = new WeakMap<object, string>();
function versionOf(payload: object): string {
  let v = versions.get(payload);
  if (v === undefined) versions.set(payload, (v = createHash('sha256').update(JSON.stringify(payload)).digest('base64url').slice(0, 16)));
  return v;
}

/** Versions a new generation of resources, reusing the previous objects for unchanged ones. */
export function versionResources(previous: Versioned | undefined, next: Map<string, object>): { resources: Versioned; changed: Set<string> } {
  const resources: Versioned = new Map();
  const changed = new Set<string>();
  for (const [name, payload] of next) {
    const old = previous?.get(name);
    if (old?.payload === payload) {
      resources.set(name, old);
      continue;
    }
    const version = versionOf(payload);
    if (old && old.version === version) resources.set(name, old);
    else {
      resources.set(name, { version, payload });
      changed.add(name);
    }
  }
  for (const name of previous?.keys() ?? []) if (!next.has(name)) changed.add(name);
  return { resources, changed };
}

/** Versions the sidecars' WaypointConfigs of `model` (see the header), reusing unchanged ones. */
export function versionSidecarConfigs(previous: Versioned | undefined, model: MeshModel): { resources: Versioned; changed: Set<string> } {
  const resources: Versioned = new Map();
  const changed = new Set<string>();
  // No sidecars now or before: not even the shared part is worth hashing.
  if (model.sidecars.size === 0 && (previous?.size ?? 0) === 0) return { resources, changed };
  const shared = versionOf(model.sidecarView);
  for (const [name, config] of model.sidecars) {
    const version = versionOf({ shared, namespace: config.namespace, name: config.name, identity: config.identity });
    const old = previous?.get(name);
    if (old && old.version === version) resources.set(name, old);
    else {
      resources.set(name, { version, payload: config });
      changed.add(name);
    }
  }
  for (const name of previous?.keys() ?? []) if (!model.sidecars.has(name)) changed.add(name);
  return { resources, changed };
}

export class MeshState implements ResourceSource {
  readonly #options: MeshOptions;
  readonly #listeners = new Set<(change: ResourceChange) => void>();
  #model: MeshModel | undefined;
  /** Everything a `test`/ztunnel proxy sees, per type URL; waypoint views are filtered from it. */
  #all = new Map<string, Versioned>();
  /** Per-waypoint views, cached until the next model. */
  #waypointViews = new Map<string, Map<string, Versioned>>();
  /** Sidecar WaypointConfigs by "<namespace>/<pod>" (apart from #all: a pod may share a Gateway's name). */
  #sidecars: Versioned = new Map();

  constructor(options: MeshOptions) {
    this.#options = options;
  }

  get model(): MeshModel | undefined {
    return this.#model;
  }

  /** Recomputes the model from the inputs and notifies listeners of what changed. */
  update(inputs: MeshInputs, seenAt: number): MeshModel {
    const model = buildMeshModel(inputs, this.#options, this.#model);
    this.#model = model;
    const changedByType = new Map<string, Set<string> | 'all'>();
    for (const typeUrl of Object.values(typeUrls)) {
      const { resources, changed } = versionResources(this.#all.get(typeUrl), resourcesForProxy(model, { type: 'test', namespace: '', name: '' }, typeUrl));
      this.#all.set(typeUrl, resources);
      if (changed.size > 0) changedByType.set(typeUrl, changed);
    }
    const sidecars = versionSidecarConfigs(this.#sidecars, model);
    this.#sidecars = sidecars.resources;
    if (sidecars.changed.size > 0) {
      const names = changedByType.get(typeUrls.waypointConfig);
      if (names === undefined) changedByType.set(typeUrls.waypointConfig, sidecars.changed);
      else if (names !== 'all') for (const name of sidecars.changed) names.add(name);
    }
    this.#waypointViews.clear();
    if (changedByType.size > 0) for (const l of this.#listeners) l({ changed: changedByType, seenAt });
    return model;
  }

  resources(node: ProxyNode, typeUrl: string): ReadonlyMap<string, VersionedResource> {
    if (node.type === 'sidecar' && typeUrl === typeUrls.waypointConfig) {
      const key = `${node.namespace}/${node.name}`;
      const own = this.#sidecars.get(key);
      return own ? new Map([[key, own]]) : new Map();
    }
    // Everything else a sidecar gets is what a ztunnel gets: every Address and Authorization.
    const all = this.#all.get(typeUrl) ?? new Map<string, VersionedResource>();
    if (node.type !== 'waypoint' || !this.#model) return all;
    const key = `${node.namespace}/${node.name}`;
    let views = this.#waypointViews.get(key);
    if (!views) this.#waypointViews.set(key, (views = new Map()));
    let view = views.get(typeUrl);
    if (!view) {
      view = new Map();
      for (const name of resourcesForProxy(this.#model, node, typeUrl).keys()) {
        const r = all.get(name);
        if (r) view.set(name, r);
      }
      views.set(typeUrl, view);
    }
    return view;
  }

  onChange(listener: (change: ResourceChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
