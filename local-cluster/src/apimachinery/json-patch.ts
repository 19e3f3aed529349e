// RFC 6902 JSON patch (`application/json-patch+json`) with RFC 6901 pointers.
// Error classes follow the real API server: a body that is not a list of operations is a
// 400 BadRequest; an operation that cannot be applied (failed `test`, missing path, unknown op)
// is a 422 Invalid, "the server rejected our request due to an error in our request".

import { ApiError, badRequest } from './errors.ts';
import { clone, deepEqual, isObject } from './json-value.ts';

function rejected(detail: string): ApiError {
  return new ApiError('Invalid', `the server rejected our request due to an error in our request: ${detail}`, {
    causes: [{ reason: 'UnexpectedServerResponse', message: detail }],
  });
}

function parsePointer(pointer: unknown, op: string): string[] {
  if (typeof pointer !== 'string') throw rejected(`${op} operation is missing a string path: ${JSON.stringify(pointer)}`);
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw rejected(`invalid JSON pointer "${pointer}": must be empty or start with '/'`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, allowEnd: boolean, pointer: string): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw rejected(`invalid array index "${token}" in path "${pointer}"`);
  const index = Number(token);
  if (index > (allowEnd ? length : length - 1)) throw rejected(`array index ${index} out of bounds in path "${pointer}"`);
  return index;
}

/** The container holding the last token of `path`, which must exist. */
function parentOf(doc: unknown, path: string[], pointer: string, op: string): unknown {
  let cur = doc;
  for (const token of path.slice(0, -1)) {
    if (Array.isArray(cur)) {
      cur = cur[arrayIndex(token, cur.length, false, pointer)];
    } else if (isObject(cur) && Object.hasOwn(cur, token)) {
      cur = cur[token];
    } else {
      throw rejected(`${op} operation does not apply: doc is missing path: "${pointer}"`);
    }
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw rejected(`${op} operation does not apply: doc is missing path: "${pointer}"`);
  return cur;
}

function get(doc: unknown, pointer: string, op: string): unknown {
  const path = parsePointer(pointer, op);
  if (path.length === 0) return doc;
  const parent = parentOf(doc, path, pointer, op);
  const last = path.at(-1)!;
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false, pointer)];
  if (!Object.hasOwn(parent as object, last)) throw rejected(`${op} operation does not apply: doc is missing key: "${pointer}"`);
  return (parent as Record<string, unknown>)[last];
}

function add(doc: unknown, pointer: string, value: unknown, op: string): unknown {
  const path = parsePointer(pointer, op);
  if (path.length === 0) return value;
  const parent = parentOf(doc, path, pointer, op);
  const last = path.at(-1)!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true, pointer), 0, value);
  else (parent as Record<string, unknown>)[last] = value;
  return doc;
}

function remove(doc: unknown, pointer: string, op: string): unknown {
  const path = parsePointer(pointer, op);
  if (path.length === 0) return null;
  const parent = parentOf(doc, path, pointer, op);
  const last = path.at(-1)!;
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(last, parent.length, false, pointer), 1);
  } else {
    if (!Object.hasOwn(parent as object, last)) throw rejected(`unable to remove nonexistent key: "${pointer}"`);
    delete (parent as Record<string, unknown>)[last];
  }
  return doc;
}

/** Applies RFC 6902 operations; never mutates its inputs. */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) {
    throw badRequest(`json patch must be a list of operations, got ${ops === null ? 'null' : typeof ops}`);
  }
  let doc = clone(target);
  ops.forEach((raw, i) => {
    if (!isObject(raw)) throw rejected(`json patch operation ${i} is not an object: ${JSON.stringify(raw)}`);
    const op = raw.op;
    const needValue = (): unknown => {
      if (!Object.hasOwn(raw, 'value')) throw rejected(`${String(op)} operation ${i} at "${String(raw.path)}" is missing a value`);
      return clone(raw.value);
    };
    switch (op) {
      case 'add':
        doc = add(doc, raw.path as string, needValue(), op);
        break;
      case 'remove':
        doc = remove(doc, raw.path as string, op);
        break;
      case 'replace': {
        const value = needValue();
        get(doc, raw.path as string, op); // must exist
        doc = add(remove(doc, raw.path as string, op), raw.path as string, value, op);
        break;
      }
      case 'move': {
        const from = raw.from as string;
        const path = raw.path as string;
        if (typeof path === 'string' && typeof from === 'string' && path.startsWith(`${from}/`)) {
          throw rejected(`move operation cannot move "${from}" into its own child "${path}"`);
        }
        const value = get(doc, from, op);
        doc = add(remove(doc, from, op), path, value, op);
        break;
      }
      case 'copy':
        doc = add(doc, raw.path as string, clone(get(doc, raw.from as string, op)), op);
        break;
      case 'test': {
        const expected = needValue();
        const actual = get(doc, raw.path as string, op);
        if (!deepEqual(actual, expected)) {
          throw rejected(`testing value "${String(raw.path)}" failed: expected ${JSON.stringify(expected)}, found ${JSON.stringify(actual)}`);
        }
        break;
      }
      default:
        throw rejected(`unexpected json patch operation ${i}: ${JSON.stringify(op)}`);
    }
  });
  return doc;
}
