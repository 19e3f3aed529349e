// The JSONPath subset printer columns use (`.status.replicas`, `.spec.ports[*].port`,
// `.status.conditions[?(@.type=="Ready")].status`), with kubectl's optional `{...}` braces.

import { badRequest } from './errors.ts';
import { deepEqual, isObject } from './json-value.ts';

type Step =
  | { kind: 'field'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'filter'; path: Step[]; op: string | undefined; value: unknown };

function fail(path: string, why: string): never {
  throw badRequest(`invalid jsonpath "${path}": ${why}`);
}

function parseLiteral(text: string, path: string): unknown {
  const t = text.trim();
  if (/^'.*'$/.test(t)) return t.slice(1, -1);
  if (/^".*"$/.test(t)) return t.slice(1, -1);
  if (t === 'true' || t === 'false') return t === 'true';
  if (t === 'null') return null;
  if (t !== '' && !Number.isNaN(Number(t))) return Number(t);
  return fail(path, `cannot parse literal ${t}`);
}

function parse(expr: string, whole: string): Step[] {
  const steps: Step[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '.') {
      i++;
      if (expr[i] === '*') {
        steps.push({ kind: 'wildcard' });
        i++;
        continue;
      }
      const start = i;
      while (i < expr.length && expr[i] !== '.' && expr[i] !== '[') i++;
      if (i > start) steps.push({ kind: 'field', name: expr.slice(start, i) });
    } else if (c === '[') {
      const end = findClose(expr, i, whole);
      const inner = expr.slice(i + 1, end).trim();
      i = end + 1;
      if (inner === '*') {
        steps.push({ kind: 'wildcard' });
      } else if (/^-?\d+$/.test(inner)) {
        steps.push({ kind: 'index', index: Number(inner) });
      } else if (/^'.*'$|^".*"$/.test(inner)) {
        steps.push({ kind: 'field', name: inner.slice(1, -1) });
      } else if (inner.startsWith('?(') && inner.endsWith(')')) {
        const cond = inner.slice(2, -1).trim();
        const m = /^@((?:\.[^.=!<>\s]+)+)\s*(==|!=|<=|>=|<|>)?\s*(.*)$/.exec(cond);
        if (!m) fail(whole, `unsupported filter ${inner}`);
        steps.push({ kind: 'filter', path: parse(m[1]!, whole), op: m[2], value: m[2] ? parseLiteral(m[3]!, whole) : undefined });
      } else {
        fail(whole, `unsupported subscript [${inner}]`);
      }
    } else {
      // A leading bare name (`status.phase`) reads as `.status.phase`.
      if (i === 0) {
        expr = `.${expr}`;
        continue;
      }
      fail(whole, `unexpected ${JSON.stringify(c)} at offset ${i}`);
    }
  }
  return steps;
}

function findClose(expr: string, open: number, whole: string): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = open; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '[' || c === '(') {
      depth++;
    } else if (c === ']' || c === ')') {
      depth--;
      if (depth === 0 && c === ']') return i;
    }
  }
  return fail(whole, 'unclosed [');
}

function compare(a: unknown, op: string, b: unknown): boolean {
  switch (op) {
    case '==':
      return deepEqual(a, b) || (a !== undefined && typeof b !== 'object' && String(a) === String(b));
    case '!=':
      return !compare(a, '==', b);
    default: {
      if (typeof a !== 'number' || typeof b !== 'number') return false;
      return op === '<' ? a < b : op === '>' ? a > b : op === '<=' ? a <= b : a >= b;
    }
  }
}

function run(nodes: unknown[], steps: Step[]): unknown[] {
  let current = nodes;
  for (const step of steps) {
    const next: unknown[] = [];
    for (const node of current) {
      if (step.kind === 'field') {
        if (isObject(node) && node[step.name] !== undefined) next.push(node[step.name]);
      } else if (step.kind === 'index') {
        if (Array.isArray(node)) {
          const at = step.index < 0 ? node.length + step.index : step.index;
          if (at >= 0 && at < node.length) next.push(node[at]);
        }
      } else if (step.kind === 'wildcard') {
        if (Array.isArray(node)) next.push(...node);
        else if (isObject(node)) next.push(...Object.values(node));
      } else if (Array.isArray(node)) {
        for (const item of node) {
          const found = run([item], step.path);
          if (step.op === undefined ? found.length > 0 : found.length > 0 && compare(found[0], step.op, step.value)) next.push(item);
        }
      }
    }
    current = next;
  }
  return current;
}

function stepsOf(path: string): Step[] {
  let expr = path.trim();
  if (expr.startsWith('{') && expr.endsWith('}')) expr = expr.slice(1, -1).trim();
  if (expr.startsWith('$')) expr = expr.slice(1);
  return expr === '' || expr === '.' ? [] : parse(expr, path);
}

/** Every value `path` selects, in document order. Throws BadRequest on syntax it does not support. */
export function jsonPathResults(obj: unknown, path: string): unknown[] {
  return run([obj], stepsOf(path));
}

/**
 * The value at `path`: a single value (undefined when absent) for a definite path, the list of
 * matches for a path with `[*]` or a filter.
 */
export function evalJsonPath(obj: unknown, path: string): unknown {
  const steps = stepsOf(path);
  const results = run([obj], steps);
  const definite = steps.every((s) => s.kind === 'field' || s.kind === 'index');
  return definite ? results[0] : results;
}
