// Parsing of AuthorizationPolicy values shared by the L4 (ztunnel) and L7 (waypoint) compilers.
// Bad values throw InvalidPolicyError naming the field and value; the caller turns it into a
// condition and leaves the whole policy out (a half-compiled policy could allow too much).
import { isIP } from 'node:net';
import type { Cidr, StringMatch } from '@ambient/api';
import { MeshError } from '@ambient/api';

export class InvalidPolicyError extends MeshError<'ERR_INVALID_POLICY'> {
  constructor(message: string) {
    super('ERR_INVALID_POLICY', message);
  }
}

/** Istio's wildcard forms: "*" = present, "*x" = suffix, "x*" = prefix, else exact. */
export function toStringMatches(values: unknown, field: string, normalize: (v: string) => string = (v) => v): StringMatch[] {
  return stringList(values, field).map((raw) => {
    const v = normalize(raw);
    if (v === '*') return { presence: true };
    if (v.startsWith('*')) return { suffix: v.slice(1) };
    if (v.endsWith('*')) return { prefix: v.slice(0, -1) };
    return { exact: v };
  });
}

/** Principals are written "cluster.local/ns/x/sa/y"; accept a "spiffe://" prefix too. */
export function toPrincipalMatches(values: unknown, field: string): StringMatch[] {
  return toStringMatches(values, field, (v) => (v.startsWith('spiffe://') ? v.slice('spiffe://'.length) : v));
}

/** source.serviceAccounts ("sa" or "ns/sa") as principal matches in the mesh trust domain. */
export function serviceAccountPrincipals(values: unknown, field: string, policyNamespace: string, trustDomain: string): StringMatch[] {
  return stringList(values, field).map((v) => {
    const [ns, sa] = v.includes('/') ? v.split('/', 2) : [policyNamespace, v];
    if (!ns || !sa) throw new InvalidPolicyError(`invalid ${field} value "${v}": expected "<service account>" or "<namespace>/<service account>"`);
    return { exact: `${trustDomain}/ns/${ns}/sa/${sa}` };
  });
}

export function toCidrs(values: unknown, field: string): Cidr[] {
  return stringList(values, field).map((v) => parseCidr(v, field));
}

export function parseCidr(v: string, field: string): Cidr {
  const [addr, len, extra] = v.split('/');
  const family = isIP(addr ?? '');
  const max = family === 6 ? 128 : 32;
  const length = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (family === 0 || extra !== undefined || !(length >= 0 && length <= max)) {
    throw new InvalidPolicyError(`invalid ${field} value "${v}": expected an IP address or CIDR`);
  }
  return { address: addr!, length };
}

export function toPorts(values: unknown, field: string): number[] {
  return stringList(values, field).map((v) => {
    const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= 65535)) throw new InvalidPolicyError(`invalid ${field} value "${v}": expected a port number 1-65535`);
    return n;
  });
}

export function stringList(values: unknown, field: string): string[] {
  if (values === undefined || values === null) return [];
  if (!Array.isArray(values)) throw new InvalidPolicyError(`invalid ${field}: expected a list of strings`);
  return values.map((v) => {
    if (typeof v !== 'string' && typeof v !== 'number') throw new InvalidPolicyError(`invalid ${field} value ${JSON.stringify(v)}: expected a string`);
    return String(v);
  });
}

/** Drops empty lists so that compiled matches carry only what constrains them. */
export function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!(Array.isArray(v) && v.length === 0) && v !== undefined) out[k] = v;
  return out as T;
}
