// Field selectors (`?fieldSelector=spec.nodeName=node-1,status.phase!=Failed`), as in
// k8s.io/apimachinery/pkg/fields. Fields are dotted paths into the object; a missing field
// compares as '' (so `spec.nodeName=` selects unscheduled pods, like the real server).

import { badRequest } from './errors.ts';
import { isObject } from './json-value.ts';
import type { KubeObject } from './types.ts';

export type FieldMatcher = (obj: KubeObject) => boolean;

interface Term {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Splits on separators that are not escaped with a backslash. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      current += c + s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function unescapeValue(selector: string, value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\') {
      const n = value[i + 1];
      if (n !== '\\' && n !== ',' && n !== '=') {
        throw badRequest(`invalid field selector: '${selector}'; invalid escape sequence in value '${value}'`);
      }
      out += n;
      i++;
    } else if (c === ',' || c === '=') {
      throw badRequest(`invalid field selector: '${selector}'; unescaped '${c}' in value '${value}'`);
    } else {
      out += c;
    }
  }
  return out;
}

function parseTerms(selector: string): Term[] {
  const terms: Term[] = [];
  if (selector.trim() === '') return terms;
  for (const raw of splitUnescaped(selector, ',')) {
    const part = raw.trim();
    let term: Term | undefined;
    // Same operator precedence as apimachinery: '!=' before '==' before '='.
    for (const op of ['!=', '==', '='] as const) {
      const at = part.indexOf(op);
      if (at > 0) {
        term = { field: part.slice(0, at).trim(), op: op === '!=' ? '!=' : '=', value: unescapeValue(selector, part.slice(at + op.length)) };
        break;
      }
    }
    if (!term || !/^[A-Za-z0-9_.\-/]+$/.test(term.field)) {
      throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    }
    terms.push(term);
  }
  return terms;
}

function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const segment of path.split('.')) {
    if (!isObject(cur)) return '';
    cur = cur[segment];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'object') return JSON.stringify(cur);
  return String(cur);
}

/** Throws BadRequest on a malformed selector; '' matches everything. */
export function parseFieldSelector(selector: string): FieldMatcher {
  const terms = parseTerms(selector);
  return (obj) => terms.every((t) => (fieldValue(obj, t.field) === t.value) === (t.op === '='));
}

/** For watch optimisation: the value a selector pins `metadata.name` to, if any. */
export function fieldSelectorName(selector: string): string | undefined {
  return parseTerms(selector).find((t) => t.field === 'metadata.name' && t.op === '=')?.value;
}
