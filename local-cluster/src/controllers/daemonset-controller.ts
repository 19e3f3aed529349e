// DaemonSets → one Pod per eligible node (bound directly, no scheduler) and DaemonSet status.
import { AppsV1Api, CoreV1Api, type V1DaemonSet } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isNotFound, mergePatch } from '@ambient/api/kube';
import type { ClusterContext } from './cluster-context.ts';
import type { ClusterInformers } from './cluster-informers.ts';
import { canonicalJson, randomSuffix } from './name-suffix.ts';
import { OwnedPodsExpectations } from './owned-pods-expectations.ts';
import { createOwnedPod, deleteOwnedPod } from './owned-pod-writes.ts';
import { isControlledBy, isPodTerminating } from './pod-facts.ts';
import { daemonSetPod, planDaemonSet } from './plan-daemonset.ts';

export function makeDaemonSetController(ctx: ClusterContext, informers: ClusterInformers, logger: Logger): () => Promise<void> {
  const core = ctx.kubeConfig.makeApiClient(CoreV1Api);
  const apps = ctx.kubeConfig.makeApiClient(AppsV1Api);
  const expectations = new OwnedPodsExpectations();

  const reconcileOne = async (ds: V1DaemonSet) => {
    const { name, namespace, uid } = ds.metadata as { name: string; namespace: string; uid: string };
    if (ds.metadata?.deletionTimestamp) return;
    const owned = informers.pods.list(namespace).filter((p) => isControlledBy(p, uid) && !isPodTerminating(p));
    const plan = planDaemonSet(ds, informers.nodes.list(), expectations.adjust(uid, owned));
    for (const node of plan.createOn) await createOwnedPod(core, expectations, uid, daemonSetPod(ds, plan.templateHash, node, randomSuffix()));
    for (const podName of plan.deletePods) await deleteOwnedPod(core, expectations, uid, namespace, podName);
    if (plan.createOn.length || plan.deletePods.length)
      logger.info({ daemonset: `${namespace}/${name}`, createOn: plan.createOn, deleted: plan.deletePods }, 'daemonset updated');
    const s: Partial<NonNullable<V1DaemonSet['status']>> = ds.status ?? {};
    const current = {
      observedGeneration: s.observedGeneration,
      desiredNumberScheduled: s.desiredNumberScheduled,
      currentNumberScheduled: s.currentNumberScheduled,
      numberMisscheduled: s.numberMisscheduled,
      numberReady: s.numberReady,
      updatedNumberScheduled: s.updatedNumberScheduled,
      numberAvailable: s.numberAvailable,
      numberUnavailable: s.numberUnavailable,
    };
    if (canonicalJson(current) !== canonicalJson(plan.status)) {
      try {
        await apps.patchNamespacedDaemonSetStatus({ name, namespace, body: { status: plan.status } }, mergePatch);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  };

  return async () => {
    for (const ds of informers.daemonSets.list()) await reconcileOne(ds);
  };
}
