// Pure: the merge patch that brings an object's status to what the model wants, or undefined
// when it is already there. Writing only on a real difference keeps the status writer from
// waking every watcher of every object on each model rebuild, and keeping lastTransitionTime
// while a condition's status holds is what makes "since when" in kubectl mean something.
import { isDeepStrictEqual } from 'node:util';
import type { Condition } from '../model/conditions.ts';
import type { ObjectStatus, RouteParentStatus } from '../model/object-status.ts';
import type { Manifest } from '../model/inputs.ts';

/** Condition types this control plane owns: removed when no longer desired; any other type is left alone. */
export const meshConditionTypes: ReadonlySet<string> = new Set([
  'Accepted',
  'Programmed',
  'ResolvedRefs',
  'istio.io/WaypointBound',
  'ZtunnelAccepted',
  'WaypointAccepted',
]);

export interface WrittenCondition extends Condition {
  lastTransitionTime: string;
}

type Json = Record<string, Manifest>;

/** Desired conditions stamped with lastTransitionTime (kept while the status is unchanged), then foreign ones. */
export function mergeConditions(current: unknown, desired: readonly Condition[], now: string): WrittenCondition[] {
  const existing = Array.isArray(current) ? (current as Json[]) : [];
  const merged: WrittenCondition[] = desired.map((c) => {
    const prev = existing.find((e) => e?.type === c.type);
    const ltt = prev && prev.status === c.status && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : now;
    return { ...c, lastTransitionTime: ltt };
  });
  const wanted = new Set(desired.map((c) => c.type));
  for (const e of existing) {
    if (e && typeof e.type === 'string' && !wanted.has(e.type) && !meshConditionTypes.has(e.type)) merged.push(e as WrittenCondition);
  }
  return merged;
}

const sameParentRef = (a: RouteParentStatus['parentRef'], b: Json | undefined): boolean =>
  !!b &&
  a.name === b.name &&
  (a.namespace ?? '') === (b.namespace ?? '') &&
  (a.kind ?? 'Gateway') === (b.kind ?? 'Gateway') &&
  (a.group ?? 'gateway.networking.k8s.io') === (b.group ?? 'gateway.networking.k8s.io') &&
  (a.sectionName ?? '') === (b.sectionName ?? '') &&
  (a.port ?? 0) === (b.port ?? 0);

/** The `status` fields to merge-patch, or undefined when the object already shows `desired`. */
export function statusPatch(currentStatus: unknown, desired: ObjectStatus, now: string): Json | undefined {
  const current: Json = currentStatus && typeof currentStatus === 'object' ? (currentStatus as Json) : {};
  const patch: Json = {};

  const hasOwnConditions = Array.isArray(current.conditions) && current.conditions.some((c: Json) => meshConditionTypes.has(c?.type));
  if (desired.conditions.length > 0 || hasOwnConditions) {
    const conditions = mergeConditions(current.conditions, desired.conditions, now);
    if (!isDeepStrictEqual(conditions, current.conditions ?? [])) patch.conditions = conditions;
  }

  if (desired.gateway) {
    if (!isDeepStrictEqual(desired.gateway.addresses, current.addresses ?? [])) patch.addresses = desired.gateway.addresses;
    const currentListeners: Json[] = Array.isArray(current.listeners) ? current.listeners : [];
    const listeners = desired.gateway.listeners.map((l) => ({
      ...l,
      conditions: mergeConditions(currentListeners.find((c) => c?.name === l.name)?.conditions, l.conditions, now),
    }));
    if (!isDeepStrictEqual(listeners, currentListeners)) patch.listeners = listeners;
  }

  if (desired.parents) {
    const currentParents: Json[] = Array.isArray(current.parents) ? current.parents : [];
    const controllers = new Set(desired.parents.map((p) => p.controllerName));
    const parents: Json[] = desired.parents.map((p) => {
      const prev = currentParents.find((c) => c?.controllerName === p.controllerName && sameParentRef(p.parentRef, c?.parentRef));
      return { ...p, conditions: mergeConditions(prev?.conditions, p.conditions, now) };
    });
    // Other controllers' entries for the same route are theirs to keep.
    for (const c of currentParents) if (!controllers.has(c?.controllerName)) parents.push(c);
    if (!isDeepStrictEqual(parents, currentParents)) patch.parents = parents;
  }

  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** Kubernetes metav1.Time: RFC 3339, second precision. */
export function kubeTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
