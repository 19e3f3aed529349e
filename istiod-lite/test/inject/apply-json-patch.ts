// A strict RFC 6902 applier for the tests (add, replace, remove, test): what an API server does
// with the webhook's patch. Strict where it matters here: adding under a parent that does not
// exist fails, as it does on a real API server, so a patch that assumes an annotations map the
// pod lacks is caught. Never mutates its input.
import { isDeepStrictEqual } from 'node:util';
import type { JsonPatchOperation } from '../../src/inject/json-patch.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function tokens(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`bad pointer ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, path: string): { parent: Json[] | { [k: string]: Json }; last: string } {
  const ts = tokens(path);
  if (ts.length === 0) throw new Error('the whole document is not patched here');
  let cur: Json = doc;
  for (const t of ts.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(cur) ? cur[Number(t)] : cur !== null && typeof cur === 'object' ? cur[t] : undefined;
    if (next === undefined || next === null || typeof next !== 'object') throw new Error(`path ${path}: missing parent at ${JSON.stringify(t)}`);
    cur = next;
  }
  return { parent: cur as Json[] | { [k: string]: Json }, last: ts.at(-1)! };
}

export function applyJsonPatch<T>(input: T, ops: readonly JsonPatchOperation[]): T {
  const doc = structuredClone(input) as Json;
  for (const op of ops) {
    const { parent, last } = parentOf(doc, op.path);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`path ${op.path}: bad index`);
      if (op.op === 'add') parent.splice(index, 0, op.value as Json);
      else if (op.op === 'replace') parent[index] = op.value as Json;
      else if (op.op === 'remove') parent.splice(index, 1);
      else if (!isDeepStrictEqual(parent[index], op.value)) throw new Error(`test ${op.path} failed`);
    } else {
      if (op.op !== 'add' && !(last in parent)) throw new Error(`path ${op.path}: missing`);
      if (op.op === 'add' || op.op === 'replace') parent[last] = op.value as Json;
      else if (op.op === 'remove') delete parent[last];
      else if (!isDeepStrictEqual(parent[last], op.value)) throw new Error(`test ${op.path} failed`);
    }
  }
  return doc as T;
}
