// Server-side apply (`application/apply-patch+yaml`), pragmatic but faithful where users notice:
// the applied configuration is merged in (maps recursively, keyed lists by merge key), fields
// this manager applied before and omits now are removed unless another manager owns them, and
// changing a field another manager owns is a conflict unless forced. Ownership is recorded in
// metadata.managedFields in the FieldsV1 form Kubernetes uses, so kubectl shows it as usual.

import { ApiError } from './errors.ts';
import {
  FieldSet,
  fieldSetFromValue,
  fromFieldsV1,
  isSystemField,
  pathString,
  serverOwnedMetadata,
  removeAt,
  toFieldsV1,
  valueAt,
  type FieldPath,
} from './field-set.ts';
import { clone, deepEqual, isObject, type JsonObject } from './json-value.ts';
import { fieldMeta, patchMetaForKind, patchMetaFromSchema, type PatchMeta } from './patch-meta.ts';
import type { KubeObject, ManagedFieldsEntry } from './types.ts';

interface Owner {
  entry: ManagedFieldsEntry;
  set: FieldSet;
}

function owners(obj: KubeObject | undefined): Owner[] {
  const entries = obj?.metadata.managedFields ?? [];
  return entries.map((entry) => ({ entry: clone(entry), set: fromFieldsV1(entry.fieldsV1) }));
}

function render(list: Owner[]): ManagedFieldsEntry[] {
  return list.filter((o) => o.set.size > 0).map((o) => ({ ...o.entry, fieldsV1: toFieldsV1(o.set) }));
}

/** How apimachinery names a manager in conflict messages. */
function describeManager(entry: ManagedFieldsEntry): string {
  let s = JSON.stringify(entry.manager);
  if (entry.subresource) s += ` with subresource ${JSON.stringify(entry.subresource)}`;
  if (entry.operation === 'Update') s += ` using ${entry.apiVersion}${entry.time ? ` at ${entry.time}` : ''}`;
  return s;
}

interface Conflict {
  owner: Owner;
  path: FieldPath;
}

function conflictError(unsorted: Conflict[]): ApiError {
  // Field sets are ordered in structured-merge-diff, so are its conflict lists.
  const conflicts = [...unsorted].sort((a, b) => (pathString(a.path) < pathString(b.path) ? -1 : 1));
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${describeManager(c.owner.entry)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${describeManager(conflicts[0]!.owner.entry)}: ${pathString(conflicts[0]!.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) {
      const name = describeManager(c.owner.entry);
      byManager.set(name, [...(byManager.get(name) ?? []), `- ${pathString(c.path)}`]);
    }
    const lines = [...byManager.keys()].sort().flatMap((name) => [`conflicts with ${name}:`, ...byManager.get(name)!]);
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError('Conflict', message, { causes });
}

/** Merges applied configuration into `target` (owned, mutated): maps recursively, keyed lists by key. */
function mergeApplied(target: JsonObject, applied: JsonObject, meta: PatchMeta | undefined, atRoot: boolean): void {
  for (const [key, value] of Object.entries(applied)) {
    if (value === null || value === undefined) continue;
    const m = fieldMeta(meta, key);
    const current = target[key];
    if (isObject(value)) {
      const into = isObject(current) ? current : {};
      const isMetadata = atRoot && key === 'metadata';
      mergeApplied(into, isMetadata ? withoutSystemMetadata(value) : value, m, false);
      target[key] = into;
    } else if (Array.isArray(value) && m?.mergeKey && Array.isArray(current)) {
      const mergeKey = m.mergeKey;
      for (const item of value) {
        const at = isObject(item) ? current.findIndex((c) => isObject(c) && deepEqual(c[mergeKey], item[mergeKey])) : -1;
        if (at >= 0) mergeApplied(current[at] as JsonObject, item as JsonObject, m, false);
        else current.push(clone(item));
      }
    } else if (Array.isArray(value) && m?.setList && Array.isArray(current)) {
      for (const item of value) if (!current.some((c) => deepEqual(c, item))) current.push(clone(item));
    } else {
      target[key] = clone(value);
    }
  }
}

function withoutSystemMetadata(metadata: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(metadata).filter(([k]) => !serverOwnedMetadata.has(k)));
}

function isValuePath(path: FieldPath): boolean {
  return path.at(-1)!.startsWith('f:');
}

export function serverSideApply(
  live: KubeObject | undefined,
  applied: KubeObject,
  opts: { manager: string; force: boolean; kind: string; now: string; schema?: Record<string, unknown> },
): KubeObject {
  // Built-in kinds merge by their Go struct tags; custom resources by their schema's list types.
  const meta = patchMetaForKind(opts.kind) ?? patchMetaFromSchema(opts.schema);
  const config = clone(applied);
  delete config.metadata?.managedFields;
  const appliedSet = fieldSetFromValue(config, meta);
  const myEntry: ManagedFieldsEntry = {
    manager: opts.manager,
    operation: 'Apply',
    apiVersion: applied.apiVersion,
    time: opts.now,
    fieldsType: 'FieldsV1',
    fieldsV1: {},
  };

  if (live === undefined) {
    config.metadata = { ...config.metadata, managedFields: render([{ entry: myEntry, set: appliedSet }]) };
    return config;
  }

  const all = owners(live);
  const mine = all.find((o) => o.entry.manager === opts.manager && o.entry.operation === 'Apply' && !o.entry.subresource);
  const others = all.filter((o) => o !== mine);

  const conflicts: Conflict[] = [];
  for (const path of appliedSet.paths()) {
    if (!isValuePath(path)) continue;
    const ours = valueAt(config, path).value;
    const theirs = valueAt(live, path);
    if (theirs.found && deepEqual(ours, theirs.value)) continue;
    for (const other of others) if (other.set.has(path)) conflicts.push({ owner: other, path });
  }
  if (conflicts.length > 0 && !opts.force) throw conflictError(conflicts);
  for (const c of conflicts) c.owner.set.delete(c.path);

  const result = clone(live);
  // Fields applied last time and omitted now go away, unless someone else still owns them.
  for (const path of mine?.set.paths() ?? []) {
    if (appliedSet.has(path) || isSystemField(path) || others.some((o) => o.set.hasWithin(path))) continue;
    if (appliedSet.hasWithin(path)) continue; // e.g. a list item we still apply, now with fewer fields
    removeAt(result, path);
  }
  mergeApplied(result, config, meta, true);

  const entries = [...others, { entry: myEntry, set: appliedSet }];
  result.metadata = { ...result.metadata, managedFields: render(mine ? all.map((o) => (o === mine ? { entry: myEntry, set: appliedSet } : o)) : entries) };
  return result;
}

function changedPaths(before: KubeObject | undefined, after: KubeObject, afterSet: FieldSet, beforeSet: FieldSet): FieldPath[] {
  return afterSet.paths().filter((path) => {
    if (!beforeSet.has(path)) return true;
    // A list item or set value present before and after is not itself a change.
    if (!isValuePath(path)) return false;
    return !deepEqual(valueAt(before, path).value, valueAt(after, path).value);
  });
}

/**
 * Attributes the fields a create/update/patch changed to `manager` (operation Update), taking
 * them away from other managers, and forgets fields that no longer exist.
 */
export function recordUpdateManager(
  before: KubeObject | undefined,
  after: KubeObject,
  opts: { manager: string; now: string; schema?: Record<string, unknown> },
): KubeObject {
  const meta = patchMetaForKind(after.kind) ?? patchMetaFromSchema(opts.schema);
  const strip = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, managedFields: [] } });
  const afterSet = fieldSetFromValue(strip(after), meta);
  const beforeSet = before ? fieldSetFromValue(strip(before), meta) : new FieldSet();
  const changed = changedPaths(before, after, afterSet, beforeSet);
  const removed = beforeSet.paths().filter((p) => !afterSet.has(p));

  const all = owners(after.metadata.managedFields !== undefined ? after : before);
  let mine = all.find((o) => o.entry.manager === opts.manager && o.entry.operation === 'Update' && !o.entry.subresource);
  for (const owner of all) {
    for (const path of removed) owner.set.delete(path);
    if (owner !== mine) for (const path of changed) owner.set.delete(path);
  }
  if (changed.length > 0) {
    if (!mine) {
      mine = {
        entry: { manager: opts.manager, operation: 'Update', apiVersion: after.apiVersion, time: opts.now, fieldsType: 'FieldsV1', fieldsV1: {} },
        set: new FieldSet(),
      };
      all.push(mine);
    }
    for (const path of changed) mine.set.add(path);
    mine.entry.time = opts.now;
    mine.entry.apiVersion = after.apiVersion;
  }
  return { ...after, metadata: { ...after.metadata, managedFields: render(all) } };
}
