// How the lists of built-in kinds merge: the `patchStrategy`/`patchMergeKey` struct tags of
// k8s.io/api, reduced to the fields the local cluster serves. Strategic merge patch and
// server-side apply both read it. Lists not described here are atomic (replaced whole).

export interface PatchMeta {
  /** This field is a list whose items (maps) merge by this key. */
  mergeKey?: string;
  /** This field is a list of scalars merged as a set (metadata.finalizers). */
  setList?: boolean;
  /** Fields of this map, or of each item when this is a keyed list. */
  fields?: Record<string, PatchMeta>;
}

const objectMeta: PatchMeta = {
  fields: { finalizers: { setList: true }, ownerReferences: { mergeKey: 'uid' } },
};

const conditions: PatchMeta = { mergeKey: 'type' };

const containerFields: Record<string, PatchMeta> = {
  ports: { mergeKey: 'containerPort' },
  env: { mergeKey: 'name' },
  volumeMounts: { mergeKey: 'mountPath' },
  volumeDevices: { mergeKey: 'devicePath' },
};

const podSpec: PatchMeta = {
  fields: {
    containers: { mergeKey: 'name', fields: containerFields },
    initContainers: { mergeKey: 'name', fields: containerFields },
    ephemeralContainers: { mergeKey: 'name', fields: containerFields },
    volumes: { mergeKey: 'name' },
    imagePullSecrets: { mergeKey: 'name' },
    hostAliases: { mergeKey: 'ip' },
    topologySpreadConstraints: { mergeKey: 'topologyKey' },
    resourceClaims: { mergeKey: 'name' },
    schedulingGates: { mergeKey: 'name' },
  },
};

const podStatus: PatchMeta = {
  fields: { conditions, podIPs: { mergeKey: 'ip' }, hostIPs: { mergeKey: 'ip' } },
};

const withConditions: PatchMeta = { fields: { conditions } };

const workload: PatchMeta = {
  fields: {
    metadata: objectMeta,
    spec: { fields: { template: { fields: { metadata: objectMeta, spec: podSpec } } } },
    status: withConditions,
  },
};

function kindMeta(fields: Record<string, PatchMeta> = {}): PatchMeta {
  return { fields: { metadata: objectMeta, status: withConditions, ...fields } };
}

const byKind: Record<string, PatchMeta> = {
  Pod: kindMeta({ spec: podSpec, status: podStatus }),
  Service: kindMeta({ spec: { fields: { ports: { mergeKey: 'port' } } } }),
  Node: kindMeta({
    spec: { fields: { podCIDRs: { setList: true } } },
    status: { fields: { conditions, addresses: { mergeKey: 'type' } } },
  }),
  ServiceAccount: kindMeta({ secrets: { mergeKey: 'name' }, imagePullSecrets: { mergeKey: 'name' } }),
  Deployment: workload,
  DaemonSet: workload,
  ReplicaSet: workload,
  StatefulSet: workload,
  Namespace: kindMeta(),
  ConfigMap: kindMeta(),
  Secret: kindMeta(),
  Event: kindMeta(),
  Endpoints: kindMeta(),
  EndpointSlice: kindMeta(),
  Lease: kindMeta(),
  CustomResourceDefinition: kindMeta(),
  TokenReview: kindMeta(),
  MutatingWebhookConfiguration: kindMeta({ webhooks: { mergeKey: 'name' } }),
  ValidatingWebhookConfiguration: kindMeta({ webhooks: { mergeKey: 'name' } }),
};

/** The merge description of a built-in kind; undefined for kinds served from CRDs. */
export function patchMetaForKind(kind: string): PatchMeta | undefined {
  return Object.hasOwn(byKind, kind) ? byKind[kind] : undefined;
}

export function fieldMeta(meta: PatchMeta | undefined, field: string): PatchMeta | undefined {
  return meta?.fields && Object.hasOwn(meta.fields, field) ? meta.fields[field] : undefined;
}

function metaFromSchema(schema: unknown): PatchMeta | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const s = schema as Record<string, unknown>;
  const meta: PatchMeta = {};
  if (s.type === 'array') {
    const keys = s['x-kubernetes-list-map-keys'];
    if (s['x-kubernetes-list-type'] === 'map' && Array.isArray(keys) && typeof keys[0] === 'string') meta.mergeKey = keys[0];
    if (s['x-kubernetes-list-type'] === 'set') meta.setList = true;
    const items = metaFromSchema(s.items);
    if (items?.fields) meta.fields = items.fields;
  } else if (typeof s.properties === 'object' && s.properties !== null) {
    const fields: Record<string, PatchMeta> = {};
    for (const [name, child] of Object.entries(s.properties as Record<string, unknown>)) {
      const m = metaFromSchema(child);
      if (m) fields[name] = m;
    }
    if (Object.keys(fields).length > 0) meta.fields = fields;
  }
  return meta.mergeKey || meta.setList || meta.fields ? meta : undefined;
}

/**
 * Merge description of a custom resource from its structural schema, as server-side apply
 * derives it for CRDs: `x-kubernetes-list-type: map` lists merge by their first list-map key,
 * `set` lists merge as sets, everything else is atomic. Metadata merges as for built-in kinds.
 */
export function patchMetaFromSchema(schema: Record<string, unknown> | undefined): PatchMeta {
  const fromSchema = metaFromSchema(schema);
  return { fields: { ...fromSchema?.fields, metadata: objectMeta } };
}
