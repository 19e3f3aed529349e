// The Deployment controller's decision, pure. Deployments manage their Pods directly here: no
// ReplicaSets (the local cluster does not need the extra object, and `kubectl get deploy`
// only reads the Deployment's status). Pods still carry `pod-template-hash` and names
// `<deployment>-<hash>-<suffix>`, so they look like the real thing.
// Rolling update: new-template pods are created at once (surge up to the full replica count);
// old pods are removed as new ones become ready, so capacity never drops during a rollout.
// Failed pods (e.g. no command) count as present: replacing them would only hot-loop.
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { stableHash } from './name-suffix.ts';
import { controllerRef, deletionOrder, isPodReady } from './pod-facts.ts';

export interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
  lastUpdateTime?: string;
}

export interface DeploymentStatus {
  observedGeneration: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
  conditions: Condition[];
}

export interface DeploymentPlan {
  templateHash: string;
  create: number;
  deletePods: string[];
  status: DeploymentStatus;
}

export function templateHash(template: unknown): string {
  return stableHash(template, 10);
}

/** `maxUnavailable` as a pod count (default 25%, rounded down like Kubernetes). */
export function maxUnavailable(deploy: V1Deployment, desired: number): number {
  const v = deploy.spec?.strategy?.rollingUpdate?.maxUnavailable ?? '25%';
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(String(v));
  return m ? Math.floor((desired * Number(m[1])) / 100) : Number(v) || 0;
}

export function updateCondition(
  previous: Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime' | 'lastUpdateTime'>,
  now: string,
  withUpdateTime: boolean,
): Condition {
  const before = previous?.find((c) => c.type === next.type);
  const sameStatus = before?.status === next.status;
  const same = sameStatus && before?.reason === next.reason && before?.message === next.message;
  const c: Condition = { ...next, lastTransitionTime: sameStatus && before ? before.lastTransitionTime : now };
  if (withUpdateTime) c.lastUpdateTime = same && before?.lastUpdateTime ? before.lastUpdateTime : now;
  return c;
}

export function planDeployment(deploy: V1Deployment, pods: V1Pod[], now: string): DeploymentPlan {
  const name = deploy.metadata?.name ?? '';
  const desired = deploy.spec?.replicas ?? 1;
  const hash = templateHash(deploy.spec?.template);
  const current = pods.filter((p) => p.metadata?.labels?.['pod-template-hash'] === hash);
  const old = pods.filter((p) => p.metadata?.labels?.['pod-template-hash'] !== hash);
  const readyCurrent = current.filter(isPodReady).length;

  const deletePods: string[] = [];
  const create = Math.max(0, desired - current.length);
  if (current.length > desired) {
    deletePods.push(
      ...[...current]
        .sort(deletionOrder)
        .slice(0, current.length - desired)
        .map((p) => p.metadata!.name!),
    );
  }
  const oldToKeep = Math.max(0, desired - readyCurrent);
  if (old.length > oldToKeep) {
    deletePods.push(
      ...[...old]
        .sort(deletionOrder)
        .slice(0, old.length - oldToKeep)
        .map((p) => p.metadata!.name!),
    );
  }

  const ready = pods.filter(isPodReady).length;
  const available = ready; // minReadySeconds is not implemented
  const minAvailable = desired - maxUnavailable(deploy, desired);
  const prev = (deploy.status?.conditions ?? []) as unknown as Condition[];
  const progressed = current.length === desired && old.length === 0 && readyCurrent === desired;
  const rsName = `${name}-${hash}`;
  const status: DeploymentStatus = {
    observedGeneration: deploy.metadata?.generation ?? 0,
    replicas: pods.length,
    updatedReplicas: current.length,
    readyReplicas: ready,
    availableReplicas: available,
    unavailableReplicas: Math.max(0, desired - available),
    conditions: [
      updateCondition(
        prev,
        available >= minAvailable
          ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
          : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
        now,
        true,
      ),
      updateCondition(
        prev,
        progressed
          ? { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.` }
          : { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` },
        now,
        true,
      ),
    ],
  };
  return { templateHash: hash, create, deletePods, status };
}

/** The Pod a Deployment creates from its template. */
export function deploymentPod(deploy: V1Deployment, hash: string, suffix: string): V1Pod {
  const template = deploy.spec?.template ?? {};
  const name = `${deploy.metadata?.name}-${hash}-${suffix}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: deploy.metadata?.namespace,
      labels: { ...template.metadata?.labels, 'pod-template-hash': hash },
      annotations: { ...template.metadata?.annotations },
      ownerReferences: [controllerRef('apps/v1', 'Deployment', deploy)],
    },
    spec: structuredClone(template.spec ?? { containers: [] }),
  };
}
