// Readers for decoded protobuf objects (protobufjs toObject with defaults: false, so an absent
// field is the proto3 zero value). Each throws a FieldError naming the path and offending value;
// convertResource wraps it with the resource name.
import { MeshError } from '../../index.ts';
import { normalizeIp } from './ip-address.ts';

/** A field that does not read as its type; the resource it is part of is invalid. */
export class FieldError extends MeshError<'ERR_INVALID_RESOURCE'> {
  constructor(message: string) {
    super('ERR_INVALID_RESOURCE', message);
  }
}

export type Wire = Record<string, unknown>;

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v) ?? v));

export function asObject(v: unknown, path: string): Wire {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FieldError(`${path} must be an object, got ${show(v)}`);
  return v as Wire;
}

export function optionalObject(o: Wire, field: string, path: string): Wire | undefined {
  const v = o[field];
  return v === undefined || v === null ? undefined : asObject(v, `${path}.${field}`);
}

export function str(o: Wire, field: string, path: string): string {
  const v = o[field] ?? '';
  if (typeof v !== 'string') throw new FieldError(`${path}.${field} must be a string, got ${show(v)}`);
  return v;
}

export function requiredStr(o: Wire, field: string, path: string): string {
  const v = str(o, field, path);
  if (v === '') throw new FieldError(`${path}.${field} is required`);
  return v;
}

export function bool(o: Wire, field: string, path: string): boolean {
  const v = o[field] ?? false;
  if (typeof v !== 'boolean') throw new FieldError(`${path}.${field} must be a boolean, got ${show(v)}`);
  return v;
}

export function list(o: Wire, field: string, path: string): unknown[] {
  const v = o[field] ?? [];
  if (!Array.isArray(v)) throw new FieldError(`${path}.${field} must be a list, got ${show(v)}`);
  return v;
}

export function strings(o: Wire, field: string, path: string): string[] {
  return list(o, field, path).map((v, i) => {
    if (typeof v !== 'string' || v === '') throw new FieldError(`${path}.${field}[${i}] must be a non-empty string, got ${show(v)}`);
    return v;
  });
}

export function ip(v: unknown, path: string): string {
  const normalized = typeof v === 'string' ? normalizeIp(v) : undefined;
  if (normalized === undefined) throw new FieldError(`${path} ${show(v)} is not an ip address`);
  return normalized;
}

export function ips(o: Wire, field: string, path: string): string[] {
  return list(o, field, path).map((v, i) => ip(v, `${path}.${field}[${i}]`));
}

/** A port number; 0 only where the proto gives zero a meaning ("unset"). */
export function port(v: unknown, path: string, allowZero = false): number {
  const n = v ?? 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) {
    throw new FieldError(`${path} ${show(v)} is not a port number`);
  }
  return n;
}

export function oneOf<T extends string>(o: Wire, field: string, allowed: readonly T[], path: string): T {
  const v = o[field] ?? allowed[0];
  if (!allowed.includes(v as T)) throw new FieldError(`${path}.${field} ${show(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}
