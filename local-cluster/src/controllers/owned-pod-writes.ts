// Creating and deleting the pods a controller owns, recording each write in its expectations
// so the next reconcile does not repeat it before the informer cache catches up.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '@ambient/api/kube';
import type { OwnedPodsExpectations } from './owned-pods-expectations.ts';

/** Creates `pod`; false when its random name clashed with an existing pod (the next pass retries). */
export async function createOwnedPod(core: CoreV1Api, expectations: OwnedPodsExpectations, ownerUid: string, pod: V1Pod): Promise<boolean> {
  try {
    await core.createNamespacedPod({ namespace: pod.metadata!.namespace!, body: pod });
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
  expectations.created(ownerUid, pod);
  return true;
}

/** Deletes a pod; one that is already gone counts as deleted. */
export async function deleteOwnedPod(core: CoreV1Api, expectations: OwnedPodsExpectations, ownerUid: string, namespace: string, name: string): Promise<void> {
  try {
    await core.deleteNamespacedPod({ name, namespace });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  expectations.deleted(ownerUid, name);
}
