// Small pure questions about pods that several controllers ask.
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function isPodTerminating(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

export function isPodTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** The reference a controller puts on what it creates (its own apiVersion/kind). */
export function controllerRef(apiVersion: string, kind: string, owner: { metadata?: { name?: string; uid?: string } }): V1OwnerReference {
  return { apiVersion, kind, name: owner.metadata!.name!, uid: owner.metadata!.uid!, controller: true, blockOwnerDeletion: true };
}

export function isControlledBy(pod: V1Pod, ownerUid: string | undefined): boolean {
  return ownerUid !== undefined && (pod.metadata?.ownerReferences ?? []).some((o) => o.controller && o.uid === ownerUid);
}

export function creationTime(obj: { metadata?: { creationTimestamp?: Date | string } }): number {
  const t = obj.metadata?.creationTimestamp;
  return t === undefined || t === null ? 0 : new Date(t).getTime();
}

/** Order in which controllers give pods up when scaling down: unscheduled, then not ready,
 *  then the youngest — the real ReplicaSet controller's preference, simplified. */
export function deletionOrder(a: V1Pod, b: V1Pod): number {
  const rank = (p: V1Pod) => (p.spec?.nodeName ? 0 : 2) + (isPodReady(p) ? 0 : 1);
  return rank(b) - rank(a) || creationTime(b) - creationTime(a) || (b.metadata?.name ?? '').localeCompare(a.metadata?.name ?? '');
}
