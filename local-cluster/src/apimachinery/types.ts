// Plain-data shapes of Kubernetes API objects as the embedded API server stores and serves
// them. Deliberately loose: the server is generic over kinds, and typed views belong to the
// code that consumes a particular kind.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
  [extra: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** One column of a Table response (`kubectl get`), as in a CRD's additionalPrinterColumns. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description?: string;
  priority?: number;
  /** A simple JSONPath such as `.spec.replicas` or `.status.conditions[?(@.type=="Ready")].status`. */
  jsonPath: string;
}

/** What the server knows about one resource type (a built-in kind or one served from a CRD). */
export interface ResourceInfo {
  group: string; // '' for the core group
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Subresources served, e.g. ['status'], ['status', 'log'], ['token']. */
  subresources: string[];
  /** Columns for Table responses; undefined = built-in default printer (see table.ts). */
  printerColumns?: PrinterColumn[];
  /** openAPIV3Schema for CRD-served kinds; validated on create/update/patch. */
  schema?: Record<string, unknown>;
}

export function groupVersion(r: Pick<ResourceInfo, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}
