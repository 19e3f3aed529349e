// Validates manifests against the Kubernetes OpenAPI schemas, offline, from two registry
// packages generated from Kubernetes' own OpenAPI document:
// - kubernetes-models: one ajv validator per kind (types, required fields, enums, formats such
//   as int32 and quantity), looked up by apiVersion and kind;
// - @kubernetes/client-node's models, whose attribute maps list every property of every type:
//   Kubernetes' OpenAPI marks no built-in type `additionalProperties: false` (the API server's
//   strict field validation comes from its Go types), so a typo such as `spec.replica` passes
//   the schema alone. `kubectl apply --validate=strict` refuses it, and so does this, with
//   kubectl's wording (`unknown field "spec.replica"`).
// A kind with no schema (a custom resource, a kind this Kubernetes does not serve) is an error,
// not a pass.
import * as clientNode from '@kubernetes/client-node';
import type { KubeObject } from './render.ts';

interface Attribute {
  baseName: string;
  type: string;
}

interface AjvError {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

interface Model {
  validate(): void;
}

type ModelClass = new (data: unknown) => Model;

const types = clientNode as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>;

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** client-node's name of a kind's type: `V1Deployment`, or `CoreV1Event` where groups share a kind. */
function clientNodeType(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['core', apiVersion];
  const candidates = [`${capitalize(group.split('.')[0]!)}${capitalize(version)}${kind}`, `${capitalize(version)}${kind}`];
  return candidates.find((name) => types[name]?.attributeTypeMap);
}

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  if (!/^[a-z0-9.]*\/?v\d+\w*$/.test(apiVersion) || !/^[A-Z]\w*$/.test(kind)) return undefined;
  try {
    const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
    const cls = mod[kind];
    return typeof cls === 'function' ? (cls as ModelClass) : undefined;
  } catch {
    return undefined;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Fields of `value` that its type does not have, as kubectl names them (`spec.template.spec.containers[0].foo`). */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) unknownFields(item, array[1]!, `${path}[${i}]`, out);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, map[1]!, `${path}[${k}]`, out);
    return;
  }
  const attributes = types[type]?.attributeTypeMap;
  if (!attributes || !isPlainObject(value)) return; // a scalar, IntOrString, `any`: the schema checks those
  const fields = new Map(attributes.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    const fieldType = fields.get(k);
    if (fieldType === undefined) out.push(`unknown field "${at}"`);
    else unknownFields(v, fieldType, at, out);
  }
}

function describeAjvError(e: AjvError): string {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('')
    .replace(/^\./, '');
  const extra = e.params && 'allowedValues' in e.params ? `: ${JSON.stringify(e.params.allowedValues)}` : '';
  return `${path || '(root)'}: ${e.message ?? 'is invalid'}${extra}`;
}

/** Every reason `obj` does not validate; empty when it does. */
export async function schemaErrors(obj: KubeObject): Promise<string[]> {
  const { apiVersion, kind } = obj;
  const Model = await modelClass(apiVersion, kind);
  const type = clientNodeType(apiVersion, kind);
  if (!Model || !type) return [`no Kubernetes schema for ${apiVersion} ${kind}`];
  const errors: string[] = [];
  try {
    new Model(obj).validate();
  } catch (err) {
    const list = (err as { errors?: AjvError[] }).errors;
    if (!Array.isArray(list)) throw err;
    errors.push(...list.map(describeAjvError));
  }
  unknownFields(obj, type, '', errors);
  return errors;
}
