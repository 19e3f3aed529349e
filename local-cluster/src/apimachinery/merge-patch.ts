// RFC 7386 JSON merge patch (`application/merge-patch+json`).

import { clone, isObject } from './json-value.ts';

/** Pure; never mutates its inputs. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = applyMergePatch(result[key], value);
    }
  }
  // Untouched members are shared with the input until here; copy so callers may mutate freely.
  for (const key of Object.keys(result)) {
    if (!Object.hasOwn(patch, key)) result[key] = clone(result[key]);
  }
  return result;
}
