// Field readers for the project's own policy CRDs (mesh.ambient.dev/v1alpha1). istiod-lite reads
// a spec with them to write the object's status condition; the waypoint reads the same spec
// with them to enforce it: one parser, so what the status says is what the proxy does.
// Every reader names the field path and the offending value in its error.
import { MeshError } from '../errors.ts';

/** A spec field that fails its check: `field` is the path ("spec.limits.api.rates[0].window"). */
export class InvalidPolicyField extends MeshError<'ERR_INVALID_POLICY'> {
  readonly field: string;

  constructor(field: string, message: string) {
    super('ERR_INVALID_POLICY', `${field} ${message}`);
    this.field = field;
  }
}

export type SpecObject = Record<string, unknown>;

export function object(v: unknown, field: string): SpecObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidPolicyField(field, `${show(v)}: expected an object`);
  return v as SpecObject;
}

export function optionalObject(v: unknown, field: string): SpecObject | undefined {
  return v === undefined || v === null ? undefined : object(v, field);
}

export function list(v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): unknown[] {
  if (v === undefined || v === null) {
    if (min === 0) return [];
    throw new InvalidPolicyField(field, `missing: expected a list of ${min} to ${max} items`);
  }
  if (!Array.isArray(v) || v.length < min || v.length > max) throw new InvalidPolicyField(field, `${show(v)}: expected a list of ${min} to ${max} items`);
  return v;
}

export function integer(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidPolicyField(field, `${show(v)}: expected an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}`);
  }
  return v;
}

export function number(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new InvalidPolicyField(field, `${show(v)}: expected a number from ${min} to ${max}`);
  return v;
}

export function string(v: unknown, field: string, maxLength = 1024): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength)
    throw new InvalidPolicyField(field, `${show(v)}: expected a string of 1 to ${maxLength} characters`);
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
    throw new InvalidPolicyField(field, `${show(v)}: expected one of ${values.join(', ')}`);
  return v as T;
}

export function duration(v: unknown, field: string, minMs: number, maxMs: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = parseGatewayDurationMs(v);
  if (ms === undefined) throw new InvalidPolicyField(field, `${show(v)}: not a Gateway API duration (like "10s", "500ms", "1m")`);
  if (ms < minMs || ms > maxMs) throw new InvalidPolicyField(field, `${show(v)}: expected from ${formatMs(minMs)} to ${formatMs(maxMs)}`);
  return ms;
}

export const HOUR_MS = 3_600_000;
const durationUnitMs: Record<string, number> = { h: HOUR_MS, m: 60_000, s: 1000, ms: 1 };
const durationShape = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const durationPart = /([0-9]{1,5})(ms|h|m|s)/g;

/** A Gateway API Duration (GEP-2257: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`, e.g. "1h30m", "500ms") in ms, or undefined. */
export function parseGatewayDurationMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || !durationShape.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(durationPart)) total += Number(m[1]) * durationUnitMs[m[2]!]!;
  return total;
}

export function formatMs(ms: number): string {
  if (ms % HOUR_MS === 0) return `${ms / HOUR_MS}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A value as it appears in an error message: JSON, cut at 80 characters. */
export function show(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
