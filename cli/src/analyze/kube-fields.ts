// Defensive readers over objects of any shape: what is missing or of the wrong type reads as
// empty, so one malformed object costs only the findings about itself.
import type { KubeObject, Manifest, ObjectRef } from './finding.ts';

export function nameOf(o: KubeObject | undefined): string {
  return stringOf(o?.metadata?.name) ?? '';
}

export function namespaceOf(o: KubeObject | undefined): string {
  return stringOf(o?.metadata?.namespace) ?? '';
}

/** String-valued labels only: a label map as JSON cannot hold anything else, a fixture might. */
export function labelsOf(o: KubeObject | undefined): Record<string, string> {
  return stringMap(o?.metadata?.labels);
}

export function stringMap(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export function listOf(v: unknown): Manifest[] {
  return Array.isArray(v) ? v : [];
}

export function stringOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function stringsOf(v: unknown): string[] {
  return listOf(v).filter((s): s is string => typeof s === 'string');
}

/** Every entry of `selector` is among `labels`; an empty selector matches everything. */
export function matchesLabels(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The kind is the list's, not the object's: items of an API list carry no kind. */
export function refOf(kind: string, o: KubeObject): ObjectRef {
  const namespace = namespaceOf(o);
  return namespace === '' ? { kind, name: nameOf(o) } : { kind, namespace, name: nameOf(o) };
}

/** "a, b, c and 4 more": messages name the values without growing without bound. */
export function listed(names: readonly string[], max = 3): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Code-point order: the same on every machine, unlike localeCompare. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
