// Binds pending pods to nodes (kube-scheduler's role) with a merge patch on spec.nodeName.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isNotFound, mergePatch } from '@ambient/api/kube';
import type { ClusterContext } from './cluster-context.ts';
import type { ClusterInformers } from './cluster-informers.ts';
import { pickNode } from './pick-node.ts';
import { isPodTerminal, isPodTerminating } from './pod-facts.ts';
import { recordEvent } from './record-event.ts';

export function needsScheduling(pod: V1Pod): boolean {
  const scheduler = pod.spec?.schedulerName ?? 'default-scheduler';
  return !pod.spec?.nodeName && scheduler === 'default-scheduler' && !isPodTerminating(pod) && !isPodTerminal(pod);
}

export function makeScheduler(ctx: ClusterContext, informers: ClusterInformers, logger: Logger): () => Promise<void> {
  const core = ctx.kubeConfig.makeApiClient(CoreV1Api);
  // Bindings we made that the cache may not show yet, so two passes don't double-count.
  const bound = new Map<string, string>();
  return async () => {
    const pods = informers.pods.list();
    const nodes = informers.nodes.list();
    const load = new Map<string, number>();
    for (const p of pods) {
      const node = p.spec?.nodeName ?? bound.get(p.metadata!.uid!);
      if (node && !isPodTerminal(p)) load.set(node, (load.get(node) ?? 0) + 1);
    }
    const live = new Set(pods.map((p) => p.metadata!.uid!));
    for (const uid of bound.keys()) if (!live.has(uid)) bound.delete(uid);
    let unschedulable = 0;
    for (const pod of pods) {
      if (!needsScheduling(pod) || bound.has(pod.metadata!.uid!)) continue;
      const node = pickNode(pod, nodes, load);
      const { name, namespace, uid } = pod.metadata as { name: string; namespace: string; uid: string };
      if (!node) {
        unschedulable++;
        continue;
      }
      try {
        await core.patchNamespacedPod({ name, namespace, body: { spec: { nodeName: node } } }, mergePatch);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      bound.set(uid, node);
      load.set(node, (load.get(node) ?? 0) + 1);
      logger.info({ pod: `${namespace}/${name}`, node }, 'scheduled');
      void recordEvent(
        core,
        logger,
        { kind: 'Pod', name, namespace, uid },
        'Normal',
        'Scheduled',
        `Successfully assigned ${namespace}/${name} to ${node}`,
        'default-scheduler',
      );
    }
    // Pods that fit nowhere wait for a node change, which triggers the loop again.
    if (unschedulable) logger.debug({ unschedulable }, 'pods waiting for a fitting node');
  };
}
