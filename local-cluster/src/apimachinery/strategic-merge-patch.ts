// Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), as applied by
// k8s.io/apimachinery/pkg/util/strategicpatch with the options the API server uses.
// Lists described in patch-meta.ts merge by key; other lists are replaced. Unlike the Go code,
// directives inside values that are taken over whole are processed too, so no `$...` key can
// reach a stored object.

import { badRequest } from './errors.ts';
import { clone, deepEqual, isObject, type JsonObject } from './json-value.ts';
import { applyMergePatch } from './merge-patch.ts';
import { fieldMeta, patchMetaForKind, type PatchMeta } from './patch-meta.ts';
import type { KubeObject } from './types.ts';

const directiveMarker = '$patch';
const retainKeys = '$retainKeys';
const setElementOrder = '$setElementOrder/';
const deleteFromPrimitiveList = '$deleteFromPrimitiveList/';

/** Unknown kinds (custom resources) have no merge keys and get JSON merge patch semantics. */
export function applyStrategicMergePatch(target: KubeObject, patch: Record<string, unknown>, kind: string): KubeObject {
  if (!isObject(patch)) throw badRequest(`strategic merge patch must be a JSON object, got ${JSON.stringify(patch)}`);
  const meta = patchMetaForKind(kind);
  if (!meta) return applyMergePatch(target, patch) as KubeObject;
  return mergeMap(clone(target) as JsonObject, patch, meta) as KubeObject;
}

function listDirective(patch: JsonObject, key: string): unknown[] {
  const value = patch[key];
  if (!Array.isArray(value)) throw badRequest(`invalid strategic merge patch: ${key} must be a list, got ${JSON.stringify(value)}`);
  return value;
}

/** Merges `patch` into `original`, which the caller owns (a copy) and which is updated in place. */
function mergeMap(original: JsonObject, patch: JsonObject, meta: PatchMeta | undefined): JsonObject {
  const directive = patch[directiveMarker];
  if (directive === 'replace') {
    const rest = { ...patch };
    delete rest[directiveMarker];
    return mergeMap({}, rest, meta);
  }
  // As in apimachinery: `$patch: delete` inside a map leaves an empty map.
  if (directive === 'delete') return {};
  if (directive !== undefined && directive !== 'merge') {
    throw badRequest(`invalid strategic merge patch: unknown directive $patch: ${JSON.stringify(directive)}`);
  }

  if (Object.hasOwn(patch, retainKeys)) {
    const keep = listDirective(patch, retainKeys);
    for (const key of Object.keys(patch)) {
      if (!key.startsWith('$') && !keep.includes(key)) {
        throw badRequest(`invalid strategic merge patch: field "${key}" is patched but not listed in $retainKeys ${JSON.stringify(keep)}`);
      }
    }
    for (const key of Object.keys(original)) if (!keep.includes(key)) delete original[key];
  }

  for (const key of Object.keys(patch)) {
    if (!key.startsWith(deleteFromPrimitiveList)) continue;
    const field = key.slice(deleteFromPrimitiveList.length);
    const toDelete = listDirective(patch, key);
    const current = original[field];
    if (Array.isArray(current)) original[field] = current.filter((v) => !toDelete.some((d) => deepEqual(d, v)));
  }

  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete original[key];
      continue;
    }
    const meta2 = fieldMeta(meta, key);
    const order = Object.hasOwn(patch, setElementOrder + key) ? listDirective(patch, setElementOrder + key) : undefined;
    if (isObject(value)) {
      const current = original[key];
      original[key] = mergeMap(isObject(current) ? current : {}, value, meta2);
    } else if (Array.isArray(value)) {
      original[key] = mergeList(original[key], value, meta2, order);
    } else {
      original[key] = value;
    }
  }

  // An order directive without its list: kubectl only reordered (or only deleted) items.
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(setElementOrder)) continue;
    const field = key.slice(setElementOrder.length);
    const current = original[field];
    const meta2 = fieldMeta(meta, field);
    if (Object.hasOwn(patch, field) || !Array.isArray(current) || !(meta2?.mergeKey || meta2?.setList)) continue;
    const keyOf = itemKey(meta2);
    const wanted = listDirective(patch, key).map(orderKey(meta2));
    original[field] = normalizeOrder(current, wanted, current.map(keyOf), keyOf);
  }
  return original;
}

function itemKey(meta: PatchMeta): (item: unknown) => unknown {
  const mergeKey = meta.mergeKey;
  return mergeKey ? (item) => (isObject(item) ? item[mergeKey] : undefined) : (item) => item;
}

/** `$setElementOrder` lists hold `{name: x}` maps for keyed lists and plain values for sets. */
function orderKey(meta: PatchMeta): (entry: unknown) => unknown {
  const mergeKey = meta.mergeKey;
  return mergeKey ? (entry) => (isObject(entry) ? entry[mergeKey] : entry) : (entry) => entry;
}

function mergeList(original: unknown, patch: unknown[], meta: PatchMeta | undefined, order: unknown[] | undefined): unknown[] {
  const base = Array.isArray(original) ? original : [];
  if (meta?.mergeKey) return mergeKeyedList(base, patch, meta, order);
  if (meta?.setList) {
    const merged = [...base];
    for (const value of patch) {
      if (typeof value === 'object' && value !== null) {
        throw badRequest(`invalid strategic merge patch: list of values expected, got item ${JSON.stringify(value)}`);
      }
      if (!merged.some((v) => deepEqual(v, value))) merged.push(value);
    }
    return normalizeOrder(merged, order ?? patch, base, (v) => v);
  }
  return patch.map((item) => (isObject(item) ? mergeMap({}, item, meta) : clone(item)));
}

function mergeKeyedList(base: unknown[], patch: unknown[], meta: PatchMeta, order: unknown[] | undefined): unknown[] {
  const mergeKey = meta.mergeKey!;
  const sameKey = (a: unknown, key: unknown): boolean => isObject(a) && deepEqual(a[mergeKey], key);
  let items = [...base];
  let replace = false;
  const updates: JsonObject[] = [];
  for (const item of patch) {
    if (!isObject(item)) {
      throw badRequest(`invalid strategic merge patch: list item ${JSON.stringify(item)} is not a map (items merge by key "${mergeKey}")`);
    }
    const directive = item[directiveMarker];
    if (directive === 'replace') {
      replace = true;
      continue;
    }
    if (!Object.hasOwn(item, mergeKey)) {
      throw badRequest(`invalid strategic merge patch: map ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
    }
    if (directive === 'delete') {
      items = items.filter((o) => !sameKey(o, item[mergeKey]));
    } else if (directive === undefined || directive === 'merge') {
      updates.push(item);
    } else {
      throw badRequest(`invalid strategic merge patch: unknown directive $patch: ${JSON.stringify(directive)}`);
    }
  }
  if (replace) items = [];
  const serverKeys = items.map((o) => (isObject(o) ? o[mergeKey] : undefined));
  for (const update of updates) {
    const at = items.findIndex((o) => sameKey(o, update[mergeKey]));
    if (at >= 0) items[at] = mergeMap(items[at] as JsonObject, update, meta);
    else items.push(mergeMap({}, update, meta));
  }
  const wanted = order ? order.map(orderKey(meta)) : updates.map((u) => u[mergeKey]);
  return normalizeOrder(items, wanted, serverKeys, itemKey(meta));
}

/**
 * Orders a merged list as apimachinery does: items named by the patch (or its
 * `$setElementOrder`) in that order, items only the server has in server order, interleaved
 * where the server order of both is known.
 */
function normalizeOrder(merged: unknown[], patchKeys: unknown[], serverKeys: unknown[], keyOf: (item: unknown) => unknown): unknown[] {
  const indexIn = (keys: unknown[], item: unknown): number => {
    const k = keyOf(item);
    return keys.findIndex((x) => deepEqual(x, k));
  };
  const byIndex =
    (keys: unknown[]) =>
    (a: unknown, b: unknown): number => {
      const ia = indexIn(keys, a);
      const ib = indexIn(keys, b);
      return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib) || 0;
    };
  const fromPatch = merged.filter((item) => indexIn(patchKeys, item) >= 0).sort(byIndex(patchKeys));
  const serverOnly = merged.filter((item) => indexIn(patchKeys, item) < 0).sort(byIndex(serverKeys));
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < fromPatch.length) {
    if (j >= fromPatch.length) {
      out.push(serverOnly[i++]);
    } else if (i >= serverOnly.length) {
      out.push(fromPatch[j++]);
    } else {
      const li = indexIn(serverKeys, serverOnly[i]);
      const ri = indexIn(serverKeys, fromPatch[j]);
      out.push(li >= 0 && ri >= 0 && li < ri ? serverOnly[i++] : fromPatch[j++]);
    }
  }
  return out;
}
