// Deployments → Pods (no ReplicaSets; see plan-deployment.ts) and Deployment status.
import { AppsV1Api, CoreV1Api, type V1Deployment } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isNotFound, mergePatch } from '@ambient/api/kube';
import type { ClusterContext } from './cluster-context.ts';
import type { ClusterInformers } from './cluster-informers.ts';
import { canonicalJson, randomSuffix } from './name-suffix.ts';
import { OwnedPodsExpectations } from './owned-pods-expectations.ts';
import { createOwnedPod, deleteOwnedPod } from './owned-pod-writes.ts';
import { isControlledBy, isPodTerminating } from './pod-facts.ts';
import { deploymentPod, planDeployment } from './plan-deployment.ts';
import { recordEvent } from './record-event.ts';

export function makeDeploymentController(ctx: ClusterContext, informers: ClusterInformers, logger: Logger): () => Promise<void> {
  const core = ctx.kubeConfig.makeApiClient(CoreV1Api);
  const apps = ctx.kubeConfig.makeApiClient(AppsV1Api);
  const expectations = new OwnedPodsExpectations();
  const known = new Set<string>();

  const reconcileOne = async (d: V1Deployment) => {
    const { name, namespace, uid } = d.metadata as { name: string; namespace: string; uid: string };
    if (d.metadata?.deletionTimestamp) return; // garbage collection removes the pods
    const owned = informers.pods.list(namespace).filter((p) => isControlledBy(p, uid) && !isPodTerminating(p));
    const pods = expectations.adjust(uid, owned);
    const plan = planDeployment(d, pods, new Date().toISOString());
    for (let i = 0; i < plan.create; i++) {
      const pod = deploymentPod(d, plan.templateHash, randomSuffix());
      if (!(await createOwnedPod(core, expectations, uid, pod))) continue;
      void recordEvent(
        core,
        logger,
        { kind: 'Deployment', apiVersion: 'apps/v1', name, namespace, uid },
        'Normal',
        'SuccessfulCreate',
        `Created pod: ${pod.metadata!.name}`,
        'deployment-controller',
      );
    }
    for (const podName of plan.deletePods) {
      await deleteOwnedPod(core, expectations, uid, namespace, podName);
      void recordEvent(
        core,
        logger,
        { kind: 'Deployment', apiVersion: 'apps/v1', name, namespace, uid },
        'Normal',
        'SuccessfulDelete',
        `Deleted pod: ${podName}`,
        'deployment-controller',
      );
    }
    if (plan.create || plan.deletePods.length)
      logger.info({ deployment: `${namespace}/${name}`, created: plan.create, deleted: plan.deletePods }, 'deployment scaled');
    if (canonicalJson(plan.status) !== canonicalJson(pickStatus(d))) {
      try {
        await apps.patchNamespacedDeploymentStatus({ name, namespace, body: { status: plan.status } }, mergePatch);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  };

  return async () => {
    const deployments = informers.deployments.list();
    const live = new Set<string>();
    for (const d of deployments) {
      live.add(d.metadata!.uid!);
      await reconcileOne(d);
    }
    for (const uid of known) if (!live.has(uid)) expectations.forget(uid);
    known.clear();
    for (const uid of live) known.add(uid);
  };
}

/** The status fields we own, in the shape we write them (for change detection). */
function pickStatus(d: V1Deployment): unknown {
  const s = d.status ?? {};
  return {
    observedGeneration: s.observedGeneration,
    replicas: s.replicas,
    updatedReplicas: s.updatedReplicas,
    readyReplicas: s.readyReplicas,
    availableReplicas: s.availableReplicas,
    unavailableReplicas: s.unavailableReplicas,
    conditions: JSON.parse(JSON.stringify(s.conditions ?? [])),
  };
}
