// Small readers over watched objects, shared by the model's translators.
import type { KubeObject } from './inputs.ts';

export function labelsOf(o: KubeObject | undefined): Record<string, string> {
  return o?.metadata?.labels ?? {};
}

export function nameOf(o: KubeObject): string {
  return o.metadata?.name ?? '';
}

export function namespaceOf(o: KubeObject): string {
  return o.metadata?.namespace ?? '';
}

export function keyOf(o: KubeObject): string {
  return `${namespaceOf(o)}/${nameOf(o)}`;
}

export function generationOf(o: KubeObject): number | undefined {
  return o.metadata?.generation;
}

/** Creation time in ms (typed client-node lists give Date, raw JSON gives a string). */
export function createdAt(o: KubeObject): number {
  const t = o.metadata?.creationTimestamp as unknown;
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string') return Date.parse(t) || 0;
  return 0;
}

/** Istio's conflict rule: the oldest object wins; ties by namespace/name. */
export function oldestFirst(a: KubeObject, b: KubeObject): number {
  return createdAt(a) - createdAt(b) || keyOf(a).localeCompare(keyOf(b));
}
