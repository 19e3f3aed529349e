// Wire Authorization → domain Authorization. Policy data is checked strictly: a rule that could
// not be read must never be evaluated as "matches nothing" (too permissive for a DENY) or
// "matches everything" (too permissive for an ALLOW), so the whole resource is rejected.
import type { Authorization, Cidr, Clause, Match, Rule, StringMatch } from '../../index.ts';
import { FieldError, asObject, ip, list, oneOf, port, requiredStr, strings } from './wire-fields.ts';

export function toAuthorization(name: string, payload: unknown): Authorization {
  const p = 'authorization';
  const o = asObject(payload, p);
  const authorization: Authorization = {
    name: requiredStr(o, 'name', p),
    namespace: requiredStr(o, 'namespace', p),
    scope: oneOf(o, 'scope', ['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR'] as const, p),
    action: oneOf(o, 'action', ['ALLOW', 'DENY'] as const, p),
    rules: list(o, 'rules', p).map((r, i) => toRule(r, `${p}.rules[${i}]`)),
    warnings: strings(o, 'warnings', p),
  };
  const key = `${authorization.namespace}/${authorization.name}`;
  if (key !== name) throw new FieldError(`authorization key ${JSON.stringify(key)} does not match the resource name`);
  return authorization;
}

function toRule(v: unknown, path: string): Rule {
  return { clauses: list(asObject(v, path), 'clauses', path).map((c, i) => toClause(c, `${path}.clauses[${i}]`)) };
}

function toClause(v: unknown, path: string): Clause {
  return { matches: list(asObject(v, path), 'matches', path).map((m, i) => toMatch(m, `${path}.matches[${i}]`)) };
}

const stringMatchFields = ['namespaces', 'notNamespaces', 'principals', 'notPrincipals'] as const;
const cidrFields = ['sourceIps', 'notSourceIps', 'destinationIps', 'notDestinationIps'] as const;
const portFields = ['destinationPorts', 'notDestinationPorts'] as const;

export function toMatch(v: unknown, path: string): Match {
  const o = asObject(v, path);
  const match: Match = {};
  for (const f of stringMatchFields) match[f] = list(o, f, path).map((s, i) => toStringMatch(s, `${path}.${f}[${i}]`));
  for (const f of cidrFields) match[f] = list(o, f, path).map((c, i) => toCidr(c, `${path}.${f}[${i}]`));
  for (const f of portFields) match[f] = list(o, f, path).map((n, i) => port(n, `${path}.${f}[${i}]`));
  return match;
}

export function toStringMatch(v: unknown, path: string): StringMatch {
  const o = asObject(v, path);
  // protobufjs (oneofs: true) adds a virtual "matchType" naming the member that is set.
  const set = Object.entries(o).filter(([key, value]) => key !== 'matchType' && value !== undefined && value !== null);
  if (set.length !== 1) throw new FieldError(`${path} must set exactly one of exact, prefix, suffix, presence, got ${JSON.stringify(o)}`);
  const [kind, value] = set[0]!;
  if (o.matchType !== undefined && o.matchType !== kind)
    throw new FieldError(`${path}.matchType ${JSON.stringify(o.matchType)} disagrees with the field set (${kind})`);
  if (kind === 'presence') {
    if (typeof value !== 'boolean') throw new FieldError(`${path}.presence must be a boolean, got ${JSON.stringify(value)}`);
    return { presence: value };
  }
  if (kind !== 'exact' && kind !== 'prefix' && kind !== 'suffix') throw new FieldError(`${path} has unknown match type ${JSON.stringify(kind)}`);
  if (typeof value !== 'string') throw new FieldError(`${path}.${kind} must be a string, got ${JSON.stringify(value)}`);
  return { [kind]: value } as StringMatch;
}

export function toCidr(v: unknown, path: string): Cidr {
  const o = asObject(v, path);
  const address = ip(o.address, `${path}.address`);
  const max = address.includes(':') ? 128 : 32;
  const length = o.length ?? 0; // proto3: absent is 0, i.e. the whole address family
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > max) {
    throw new FieldError(`${path}.length ${JSON.stringify(length)} is not a prefix length 0-${max}`);
  }
  return { address, length };
}
