// Sets of field paths, the unit of ownership in server-side apply, with conversion to and from
// the FieldsV1 form stored in metadata.managedFields (`f:spec`, `k:{"name":"web"}`, `v:"x"`,
// `.` marking a node that is itself a member as well as the parent of members).

import { deepEqual, isObject, type JsonObject } from './json-value.ts';
import { fieldMeta, type PatchMeta } from './patch-meta.ts';

export type FieldPath = string[];

export class FieldSet {
  readonly #members = new Map<string, FieldPath>();

  static keyOf(path: FieldPath): string {
    return JSON.stringify(path);
  }

  add(path: FieldPath): void {
    if (path.length > 0) this.#members.set(FieldSet.keyOf(path), path);
  }

  has(path: FieldPath): boolean {
    return this.#members.has(FieldSet.keyOf(path));
  }

  delete(path: FieldPath): boolean {
    return this.#members.delete(FieldSet.keyOf(path));
  }

  /** True when `path` or anything beneath it is a member. */
  hasWithin(path: FieldPath): boolean {
    const key = FieldSet.keyOf(path);
    const prefix = `${key.slice(0, -1)},`;
    for (const k of this.#members.keys()) if (k === key || k.startsWith(prefix)) return true;
    return false;
  }

  paths(): FieldPath[] {
    return [...this.#members.values()];
  }

  get size(): number {
    return this.#members.size;
  }
}

/** Metadata the server sets: an applied configuration's values for these are ignored. */
export const serverOwnedMetadata: ReadonlySet<string> = new Set([
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

// Never part of what a manager owns: the server's metadata, and the object's identity (an
// applied configuration names it, but nobody owns it).
const systemMetadata = new Set([...serverOwnedMetadata, 'name', 'namespace', 'generateName']);

export function isSystemField(path: FieldPath): boolean {
  if (path.length === 1) return path[0] === 'f:apiVersion' || path[0] === 'f:kind';
  return path[0] === 'f:metadata' && systemMetadata.has(path[1]!.slice(2));
}

function itemElement(item: JsonObject, mergeKey: string): string {
  return `k:${JSON.stringify({ [mergeKey]: item[mergeKey] })}`;
}

/** Every field an object sets: leaves, keyed list items, set-list values. */
export function fieldSetFromValue(obj: unknown, meta: PatchMeta | undefined): FieldSet {
  const set = new FieldSet();
  const walkMap = (value: JsonObject, m: PatchMeta | undefined, prefix: FieldPath): void => {
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      const path = [...prefix, `f:${k}`];
      if (isSystemField(path)) continue;
      walkValue(v, fieldMeta(m, k), path);
    }
  };
  const walkValue = (value: unknown, m: PatchMeta | undefined, path: FieldPath): void => {
    if (isObject(value) && Object.keys(value).length > 0) {
      walkMap(value, m, path);
    } else if (Array.isArray(value) && value.length > 0 && m?.mergeKey && value.every((i) => isObject(i) && Object.hasOwn(i, m.mergeKey!))) {
      for (const item of value as JsonObject[]) {
        const itemPath = [...path, itemElement(item, m.mergeKey)];
        set.add(itemPath);
        walkMap(item, m, itemPath);
      }
    } else if (Array.isArray(value) && value.length > 0 && m?.setList) {
      for (const item of value) set.add([...path, `v:${JSON.stringify(item)}`]);
    } else {
      set.add(path);
    }
  };
  if (isObject(obj)) walkMap(obj, meta, []);
  return set;
}

interface Node {
  member: boolean;
  children: Map<string, Node>;
}

export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  const root: Node = { member: false, children: new Map() };
  for (const path of set.paths()) {
    let node = root;
    for (const element of path) {
      let child = node.children.get(element);
      if (!child) {
        child = { member: false, children: new Map() };
        node.children.set(element, child);
      }
      node = child;
    }
    node.member = true;
  }
  const render = (node: Node): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (node.member && node.children.size > 0) out['.'] = {};
    for (const key of [...node.children.keys()].sort()) out[key] = render(node.children.get(key)!);
    return out;
  };
  return render(root);
}

export function fromFieldsV1(fields: unknown): FieldSet {
  const set = new FieldSet();
  const walk = (node: unknown, prefix: FieldPath): void => {
    if (!isObject(node)) return;
    for (const [key, child] of Object.entries(node)) {
      if (key === '.') {
        set.add(prefix);
      } else if (isObject(child) && Object.keys(child).length === 0) {
        set.add([...prefix, key]);
      } else {
        walk(child, [...prefix, key]);
      }
    }
  };
  walk(fields, []);
  return set;
}

/** `.spec.containers[name="web"].image`, the way apply conflicts name a field. */
export function pathString(path: FieldPath): string {
  return path
    .map((element) => {
      const body = element.slice(2);
      if (element.startsWith('f:')) return `.${body}`;
      if (element.startsWith('k:')) {
        const key = JSON.parse(body) as JsonObject;
        return `[${Object.entries(key)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(',')}]`;
      }
      if (element.startsWith('v:')) return `[=${body}]`;
      return `[${body}]`;
    })
    .join('');
}

function step(container: unknown, element: string): { found: boolean; value: unknown; index: number } {
  const body = element.slice(2);
  if (element.startsWith('f:')) {
    if (isObject(container) && Object.hasOwn(container, body)) return { found: true, value: container[body], index: -1 };
  } else if (Array.isArray(container)) {
    let index = -1;
    if (element.startsWith('k:')) {
      const key = JSON.parse(body) as JsonObject;
      index = container.findIndex((item) => isObject(item) && Object.entries(key).every(([k, v]) => deepEqual(item[k], v)));
    } else if (element.startsWith('v:')) {
      const wanted: unknown = JSON.parse(body);
      index = container.findIndex((item) => deepEqual(item, wanted));
    } else if (element.startsWith('i:')) {
      index = Number(body) < container.length ? Number(body) : -1;
    }
    if (index >= 0) return { found: true, value: container[index], index };
  }
  return { found: false, value: undefined, index: -1 };
}

export function valueAt(obj: unknown, path: FieldPath): { found: boolean; value: unknown } {
  let cur: unknown = obj;
  for (const element of path) {
    const next = step(cur, element);
    if (!next.found) return { found: false, value: undefined };
    cur = next.value;
  }
  return { found: true, value: cur };
}

/** Removes the field at `path` (mutating `obj`), then maps left empty by the removal. */
export function removeAt(obj: JsonObject, path: FieldPath): void {
  const chain: unknown[] = [obj];
  for (const element of path.slice(0, -1)) {
    const next = step(chain.at(-1), element);
    if (!next.found) return;
    chain.push(next.value);
  }
  for (let depth = path.length - 1; depth >= 0; depth--) {
    const parent = chain[depth];
    const element = path[depth]!;
    if (element.startsWith('f:')) {
      if (!isObject(parent)) return;
      delete parent[element.slice(2)];
    } else {
      const at = step(parent, element).index;
      if (at < 0 || !Array.isArray(parent)) return;
      parent.splice(at, 1);
    }
    // Walk up only through maps the removal emptied; never drop list items or the root.
    if (depth === 0 || !isObject(parent) || Object.keys(parent).length > 0 || !path[depth - 1]!.startsWith('f:')) return;
  }
}
