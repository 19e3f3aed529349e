// Validation and pruning of custom resources against a CRD's openAPIV3Schema, with the causes
// and messages apiextensions-apiserver produces, e.g.
// `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
// apiVersion, kind and metadata at the root are the server's business, not the schema's.

import type { StatusCause } from './errors.ts';
import { deepEqual, isObject, show, type JsonObject } from './json-value.ts';
import type { KubeObject } from './types.ts';

type Schema = Record<string, unknown>;

const rootFields = new Set(['apiVersion', 'kind', 'metadata']);

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

const formats: Record<string, (v: unknown) => boolean> = {
  'date-time': (v) => typeof v !== 'string' || (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(v) && !Number.isNaN(Date.parse(v))),
  date: (v) => typeof v !== 'string' || /^\d{4}-\d\d-\d\d$/.test(v),
  int32: (v) => typeof v !== 'number' || (v >= -(2 ** 31) && v <= 2 ** 31 - 1),
  byte: (v) => typeof v !== 'string' || /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v),
};

class Validator {
  readonly causes: StatusCause[] = [];

  private add(reason: string, field: string, message: string): void {
    this.causes.push({ reason, field, message });
  }

  private invalid(field: string, value: unknown, detail: string): void {
    this.add('FieldValueInvalid', field, `Invalid value: ${show(value)}: ${field} in body ${detail}`);
  }

  validate(value: unknown, schema: Schema, field: string): void {
    if (value === null) {
      if (schema.nullable !== true && typeof schema.type === 'string') {
        this.add('FieldValueTypeInvalid', field, `Invalid value: "null": ${field} in body must be of type ${schema.type}: "null"`);
      }
      return;
    }
    if (schema['x-kubernetes-int-or-string'] === true) {
      if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
        const t = typeName(value);
        this.add('FieldValueTypeInvalid', field, `Invalid value: "${t}": ${field} in body must be of type integer,string: "${t}"`);
        return;
      }
    } else if (typeof schema.type === 'string' && !hasType(value, schema.type)) {
      const t = typeName(value);
      this.add('FieldValueTypeInvalid', field, `Invalid value: "${t}": ${field} in body must be of type ${schema.type}: "${t}"`);
      return;
    }

    if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, value))) {
      this.add('FieldValueNotSupported', field, `Unsupported value: ${show(value)}: supported values: ${schema.enum.map(show).join(', ')}`);
    }
    if (typeof schema.format === 'string' && formats[schema.format] && !formats[schema.format]!(value)) {
      this.add('FieldValueInvalid', field, `Invalid value: ${show(value)}: ${field} in body must be of type ${schema.format}: ${show(value)}`);
    }
    if (typeof value === 'number') this.number(value, schema, field);
    if (typeof value === 'string') this.string(value, schema, field);
    if (Array.isArray(value)) this.array(value, schema, field);
    if (isObject(value)) this.object(value, schema, field);
  }

  private number(value: number, schema: Schema, field: string): void {
    if (typeof schema.minimum === 'number') {
      const exclusive = schema.exclusiveMinimum === true;
      if (exclusive ? value <= schema.minimum : value < schema.minimum) {
        this.invalid(field, value, `should be greater than ${exclusive ? '' : 'or equal to '}${schema.minimum}`);
      }
    }
    if (typeof schema.maximum === 'number') {
      const exclusive = schema.exclusiveMaximum === true;
      if (exclusive ? value >= schema.maximum : value > schema.maximum) {
        this.invalid(field, value, `should be less than ${exclusive ? '' : 'or equal to '}${schema.maximum}`);
      }
    }
  }

  private string(value: string, schema: Schema, field: string): void {
    const length = [...value].length;
    if (typeof schema.minLength === 'number' && length < schema.minLength) {
      this.invalid(field, value, `should be at least ${schema.minLength} chars long`);
    }
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) {
      this.add('FieldValueTooLong', field, `Too long: may not be longer than ${schema.maxLength}`);
    }
    if (typeof schema.pattern === 'string') {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        re = undefined; // a pattern JavaScript cannot compile is not the object's fault
      }
      if (re && !re.test(value)) this.invalid(field, value, `should match '${schema.pattern}'`);
    }
  }

  private array(value: unknown[], schema: Schema, field: string): void {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) {
      this.invalid(field, value.length, `should have at least ${schema.minItems} items`);
    }
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) {
      this.add('FieldValueTooMany', field, `Too many: ${value.length}: must have at most ${schema.maxItems} items`);
    }
    if (schema.uniqueItems === true) {
      value.forEach((item, i) => {
        if (value.findIndex((other) => deepEqual(other, item)) < i) this.add('FieldValueDuplicate', `${field}[${i}]`, `Duplicate value: ${show(item)}`);
      });
    }
    if (isObject(schema.items)) {
      const items = schema.items;
      for (const [i, item] of value.entries()) this.validate(item, items, `${field}[${i}]`);
    }
  }

  private object(value: JsonObject, schema: Schema, field: string, skip?: Set<string>): void {
    const child = (key: string): string => (field ? `${field}.${key}` : key);
    const properties = isObject(schema.properties) ? schema.properties : {};
    for (const key of Array.isArray(schema.required) ? schema.required : []) {
      if (typeof key === 'string' && !skip?.has(key) && value[key] === undefined) this.add('FieldValueRequired', child(key), 'Required value');
    }
    for (const [key, v] of Object.entries(value)) {
      if (skip?.has(key) || v === undefined) continue;
      const propertySchema = properties[key];
      if (isObject(propertySchema)) {
        this.validate(v, propertySchema, child(key));
      } else if (isObject(schema.additionalProperties)) {
        this.validate(v, schema.additionalProperties, child(key));
      } else if (schema.additionalProperties === false && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
        this.invalid(child(key), v, `is a forbidden property`);
      }
    }
  }

  validateRoot(obj: JsonObject, schema: Schema): void {
    this.object(obj, schema, '', rootFields);
  }
}

/** Kubernetes-style causes for every way `obj` breaks `schema`; [] when valid. */
export function validateAgainstSchema(obj: KubeObject, schema: Record<string, unknown>): StatusCause[] {
  const v = new Validator();
  v.validateRoot(obj, schema);
  return v.causes;
}

function prune(value: unknown, schema: unknown, embedded: boolean): unknown {
  if (!isObject(schema)) return value;
  if (Array.isArray(value)) return value.map((item) => prune(item, schema.items, false));
  if (!isObject(value)) return value;
  const properties = isObject(schema.properties) ? schema.properties : {};
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const keepMeta = embedded || schema['x-kubernetes-embedded-resource'] === true;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    if (keepMeta && rootFields.has(key)) {
      out[key] = v;
    } else if (Object.hasOwn(properties, key)) {
      out[key] = prune(v, properties[key], false);
    } else if (isObject(schema.additionalProperties)) {
      out[key] = prune(v, schema.additionalProperties, false);
    } else if (preserve || schema.additionalProperties === true) {
      out[key] = v;
    }
  }
  return out;
}

/** Drops fields the schema does not declare, as structural schemas do; keeps apiVersion/kind/metadata. */
export function pruneUnknownFields(obj: KubeObject, schema: Record<string, unknown>): KubeObject {
  return prune(structuredClone(obj), schema, true) as KubeObject;
}
