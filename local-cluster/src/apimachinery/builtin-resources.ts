// The built-in resource types the embedded API server serves, as the real API server
// advertises them in discovery (plural, short names, verbs, categories, subresources), and
// the resource types a CustomResourceDefinition adds.

import { badRequest } from './errors.ts';
import { isObject } from './json-value.ts';
import type { KubeObject, PrinterColumn, ResourceInfo } from './types.ts';

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface Spec {
  group?: string;
  version?: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  verbs?: string[];
  subresources?: string[];
}

function resource(s: Spec): ResourceInfo {
  return {
    group: s.group ?? '',
    version: s.version ?? 'v1',
    kind: s.kind,
    listKind: `${s.kind}List`,
    plural: s.plural,
    singular: s.kind.toLowerCase(),
    namespaced: s.namespaced,
    shortNames: s.shortNames ?? [],
    categories: s.categories ?? [],
    verbs: s.verbs ?? allVerbs,
    subresources: s.subresources ?? [],
  };
}

export const builtinResources: ResourceInfo[] = [
  resource({
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  resource({ kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], subresources: ['status'] }),
  resource({ kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'], subresources: ['status', 'log'] }),
  resource({ kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], categories: ['all'], subresources: ['status'] }),
  resource({ kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'], subresources: ['token'] }),
  resource({ kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] }),
  resource({ kind: 'Secret', plural: 'secrets', namespaced: true }),
  resource({ kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] }),
  resource({ kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'] }),
  resource({
    group: 'apps',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['status', 'scale'],
  }),
  resource({ group: 'apps', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true, shortNames: ['ds'], categories: ['all'], subresources: ['status'] }),
  resource({
    group: 'apps',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    subresources: ['status', 'scale'],
  }),
  resource({ group: 'discovery.k8s.io', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true }),
  resource({ group: 'coordination.k8s.io', kind: 'Lease', plural: 'leases', namespaced: true }),
  // Stored and served only (no eviction API here): deploy/overlays/prod ships one for istiod-lite.
  resource({ group: 'policy', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], subresources: ['status'] }),
  // RBAC objects: every request is authorized against them (src/apiserver/rbac-authorizer.ts).
  resource({ group: 'rbac.authorization.k8s.io', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false }),
  resource({ group: 'rbac.authorization.k8s.io', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false }),
  resource({ group: 'rbac.authorization.k8s.io', kind: 'Role', plural: 'roles', namespaced: true }),
  resource({ group: 'rbac.authorization.k8s.io', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true }),
  resource({ group: 'authentication.k8s.io', kind: 'TokenReview', plural: 'tokenreviews', namespaced: false, verbs: ['create'] }),
  resource({ group: 'authentication.k8s.io', kind: 'SelfSubjectReview', plural: 'selfsubjectreviews', namespaced: false, verbs: ['create'] }),
  resource({ group: 'authorization.k8s.io', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, verbs: ['create'] }),
  resource({ group: 'authorization.k8s.io', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false, verbs: ['create'] }),
  // Admission webhooks the API server calls on writes (src/apiserver/admission-webhooks.ts).
  resource({
    group: 'admissionregistration.k8s.io',
    kind: 'MutatingWebhookConfiguration',
    plural: 'mutatingwebhookconfigurations',
    namespaced: false,
    categories: ['api-extensions'],
  }),
  resource({
    group: 'admissionregistration.k8s.io',
    kind: 'ValidatingWebhookConfiguration',
    plural: 'validatingwebhookconfigurations',
    namespaced: false,
    categories: ['api-extensions'],
  }),
  resource({
    group: 'apiextensions.k8s.io',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    subresources: ['status'],
  }),
];

// Served when a CRD declares no additionalPrinterColumns (apiextensions-apiserver does the same).
const defaultCrdColumns: PrinterColumn[] = [
  {
    name: 'Age',
    type: 'date',
    jsonPath: '.metadata.creationTimestamp',
    description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  },
];

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function printerColumns(value: unknown): PrinterColumn[] {
  if (!Array.isArray(value) || value.length === 0) return defaultCrdColumns;
  return value.filter(isObject).map((c) => {
    const column: PrinterColumn = {
      name: String(c.name ?? ''),
      type: (c.type as PrinterColumn['type']) ?? 'string',
      jsonPath: String(c.jsonPath ?? c.JSONPath ?? ''),
    };
    if (typeof c.format === 'string') column.format = c.format;
    if (typeof c.description === 'string') column.description = c.description;
    if (typeof c.priority === 'number') column.priority = c.priority;
    return column;
  });
}

/** One ResourceInfo per served version of a CRD. Throws BadRequest when the spec lacks names. */
export function resourcesFromCrd(crd: KubeObject): ResourceInfo[] {
  const spec = isObject(crd.spec) ? crd.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const group = spec.group;
  const kind = names.kind;
  const plural = names.plural;
  if (typeof group !== 'string' || typeof kind !== 'string' || typeof plural !== 'string' || !group || !kind || !plural) {
    throw badRequest(`customresourcedefinition "${crd.metadata.name ?? ''}" needs spec.group, spec.names.kind and spec.names.plural`);
  }
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  return versions
    .filter((v) => v.served !== false && typeof v.name === 'string')
    .map((v) => {
      const subresources = isObject(v.subresources) ? v.subresources : {};
      const schema = isObject(v.schema) && isObject(v.schema.openAPIV3Schema) ? v.schema.openAPIV3Schema : undefined;
      const info: ResourceInfo = {
        group,
        version: v.name as string,
        kind,
        listKind: typeof names.listKind === 'string' && names.listKind ? names.listKind : `${kind}List`,
        plural,
        singular: typeof names.singular === 'string' && names.singular ? names.singular : kind.toLowerCase(),
        namespaced: spec.scope !== 'Cluster',
        shortNames: strings(names.shortNames),
        categories: strings(names.categories),
        verbs: allVerbs,
        subresources: [...(Object.hasOwn(subresources, 'status') ? ['status'] : []), ...(Object.hasOwn(subresources, 'scale') ? ['scale'] : [])],
        printerColumns: printerColumns(v.additionalPrinterColumns),
      };
      if (schema) info.schema = schema;
      return info;
    });
}
