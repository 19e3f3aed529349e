// Kubernetes label selectors as the API server takes them: the string form of `?labelSelector=`
// (as in k8s.io/apimachinery/pkg/labels, with `!=`, `<`, `>` that selector objects lack) and the
// validation of the structured form of `spec.selector`, both failing with BadRequest.

import { matchesLabelSelector } from '@ambient/api/kube';
import { badRequest } from './errors.ts';

export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;

type Operator = 'in' | 'notin' | 'exists' | '!' | '=' | '==' | '!=' | '<' | '>';

interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

// Characters that end an identifier, as in the apimachinery lexer.
const special = new Set([' ', '\t', '\n', '\r', '!', '=', ',', '(', ')', '<', '>']);
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

type Token = { kind: 'id' | 'op' | 'end'; text: string; pos: number };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '!' || c === '=') {
      const two = input.slice(i, i + 2);
      if (two === '!=' || two === '==') {
        tokens.push({ kind: 'op', text: two, pos: i });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: c, pos: i });
        i++;
      }
    } else if (special.has(c)) {
      tokens.push({ kind: 'op', text: c, pos: i });
      i++;
    } else {
      const start = i;
      while (i < input.length && !special.has(input[i]!)) i++;
      tokens.push({ kind: 'id', text: input.slice(start, i), pos: start });
    }
  }
  tokens.push({ kind: 'end', text: '', pos: input.length });
  return tokens;
}

function fail(selector: string, why: string): never {
  throw badRequest(`unable to parse requirement: ${why} (in label selector "${selector}")`);
}

export function validateLabelKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !dnsSubdomain.test(prefix))) {
    return `invalid label key "${key}": prefix part must be a lowercase DNS subdomain`;
  }
  if (name.length === 0 || name.length > 63 || !qualifiedNamePart.test(name)) {
    return `invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`;
  }
  return undefined;
}

export function validateLabelValue(value: string): string | undefined {
  if (value.length > 63 || !labelValue.test(value)) {
    return `invalid label value "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)`;
  }
  return undefined;
}

function parse(selector: string): Requirement[] {
  const tokens = tokenize(selector);
  let at = 0;
  const peek = (): Token => tokens[at]!;
  const next = (): Token => tokens[at++]!;
  const requirements: Requirement[] = [];
  if (peek().kind === 'end') return requirements;

  const checkKey = (key: string): void => {
    const problem = validateLabelKey(key);
    if (problem) fail(selector, problem);
  };
  const checkValue = (value: string): void => {
    const problem = validateLabelValue(value);
    if (problem) fail(selector, problem);
  };

  for (;;) {
    let tok = next();
    if (tok.kind === 'op' && tok.text === '!') {
      const key = next();
      if (key.kind !== 'id') fail(selector, `found '${key.text}', expected: identifier after '!'`);
      checkKey(key.text);
      requirements.push({ key: key.text, op: '!', values: [] });
    } else if (tok.kind === 'id') {
      const key = tok.text;
      checkKey(key);
      const op = peek();
      if (op.kind === 'end' || op.text === ',') {
        requirements.push({ key, op: 'exists', values: [] });
      } else if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
        next();
        if (next().text !== '(') fail(selector, `found '${peek().text}', expected: '(' after '${op.text}'`);
        const values: string[] = [];
        for (;;) {
          tok = next();
          if (tok.kind === 'op' && tok.text === ')') break;
          if (tok.kind === 'id') {
            checkValue(tok.text);
            values.push(tok.text);
            tok = next();
            if (tok.text === ')') break;
            if (tok.text !== ',') fail(selector, `found '${tok.text || 'end of string'}', expected: ',' or ')'`);
          } else {
            fail(selector, `found '${tok.text || 'end of string'}', expected: a value or ')'`);
          }
        }
        if (values.length === 0) fail(selector, `for 'in', 'notin' operators, values set can't be empty (key "${key}")`);
        requirements.push({ key, op: op.text, values });
      } else if (op.kind === 'op' && ['=', '==', '!=', '<', '>'].includes(op.text)) {
        next();
        const v = peek();
        let value = '';
        if (v.kind === 'id') {
          value = v.text;
          next();
        } else if (!(v.kind === 'end' || v.text === ',')) {
          fail(selector, `found '${v.text}', expected: a value after '${op.text}'`);
        }
        if (op.text === '<' || op.text === '>') {
          if (!/^-?\d+$/.test(value)) fail(selector, `for 'Gt', 'Lt' operators, the value must be an integer, got "${value}"`);
        } else {
          checkValue(value);
        }
        requirements.push({ key, op: op.text as Operator, values: [value] });
      } else {
        fail(selector, `found '${op.text}', expected: '=', '!=', '==', 'in', 'notin' after key "${key}"`);
      }
    } else {
      fail(selector, `found '${tok.text || 'end of string'}', expected: '!' or identifier`);
    }
    const sep = next();
    if (sep.kind === 'end') return requirements;
    if (sep.text !== ',') fail(selector, `found '${sep.text}', expected: ','`);
    if (peek().kind === 'end') fail(selector, `found end of string, expected: '!' or identifier after ','`);
  }
}

function matches(r: Requirement, labels: Record<string, string> | undefined): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key]! : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(value!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(value!);
    case '<':
    case '>': {
      if (!has || !/^-?\d+$/.test(value!)) return false;
      const n = Number(value);
      const bound = Number(r.values[0]);
      return r.op === '<' ? n < bound : n > bound;
    }
  }
}

function matcher(requirements: Requirement[]): LabelMatcher {
  return (labels) => requirements.every((r) => matches(r, labels));
}

/** Parses the `?labelSelector=` syntax; '' matches everything. Throws BadRequest when malformed. */
export function parseLabelSelector(selector: string): LabelMatcher {
  return matcher(parse(selector));
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/**
 * The structured selector (`spec.selector` of a Deployment, a NetworkPolicy...), validated as
 * the API server must (a malformed one is a BadRequest); matching is @ambient/api/kube's, the
 * one the controllers use. undefined/null and `{}` match everything here; callers that give a
 * nil selector another meaning (a Service without a selector selects no pods) decide that
 * before calling.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | undefined | null): LabelMatcher {
  if (sel === undefined || sel === null) return () => true;
  for (const expr of sel.matchExpressions ?? []) {
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) {
          throw badRequest(`invalid label selector: values must be non-empty for operator "${expr.operator}" (key "${expr.key}")`);
        }
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) {
          throw badRequest(`invalid label selector: values must be empty for operator "${expr.operator}" (key "${expr.key}")`);
        }
        break;
      default:
        throw badRequest(`invalid label selector: "${String(expr.operator)}" is not a valid label selector operator`);
    }
  }
  return (labels) => matchesLabelSelector(sel, labels);
}
