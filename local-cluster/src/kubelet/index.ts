// One kubelet per node: registers the Node, watches the pods bound to it, and runs them as
// processes in per-pod network namespaces, writing their status back. A pod's network is set
// up through the node's CNI plugins (ClusterNetwork.addPod) before its containers start, so a
// CNI plugin chained there (the mesh's, which tells the node agent) sees the pod before its
// first connection. hostNetwork pods run in the node's netns and use the node IP.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realClock, unrefTimers, type Clock } from '@ambient/api';
import { isConflict, isNotFound, mergePatch, ResilientInformer } from '@ambient/api/kube';
import type { ClusterContext } from '../controllers/cluster-context.ts';
import { canonicalJson } from '../controllers/name-suffix.ts';
import { podRegistryFor, type PodRegistry } from '../controllers/pod-registry.ts';
import { reconcileLoop, type ReconcileLoop } from '../controllers/reconcile-loop.ts';
import { recordEvent } from '../controllers/record-event.ts';
import { spawnInNetns, type NodeNet, type PodNet } from '../runtime/index.ts';
import { nodeObject, nodeStatus } from './node-object.ts';
import { computePodStatus, type PodCondition } from './pod-status.ts';
import { planPodTokens, PodTokens, projectedTokenFiles } from './pod-tokens.ts';
import { PodWorker, type SpawnFn } from './pod-worker.ts';

export interface KubeletOptions {
  clock?: Clock;
  spawn?: SpawnFn;
}

interface RunningPodEntry {
  pod: V1Pod;
  net: PodNet;
  worker: PodWorker;
  lastWritten?: string;
  conditions?: PodCondition[];
  writeTimer?: NodeJS.Timeout;
  tokens: PodTokens;
  writing: Promise<void>;
}

/** Where the kubelet writes a container's output; the API server's pods/log reads it. */
export function podLogDir(dataDir: string, pod: { namespace: string; name: string; uid: string }): string {
  return join(dataDir, 'pods', `${pod.namespace}_${pod.name}_${pod.uid}`);
}

export class Kubelet {
  readonly #ctx: ClusterContext;
  readonly #node: NodeNet;
  readonly #logger: Logger;
  readonly #core: CoreV1Api;
  readonly #clock: Clock;
  /** Token refreshes are due in hours: they must not keep a process alive on their own. */
  readonly #tokenClock: Clock;
  readonly #spawn: SpawnFn;
  readonly #registry: PodRegistry;
  readonly #pods = new Map<string, RunningPodEntry>(); // by uid
  readonly #starting = new Set<string>();
  readonly #informer: ResilientInformer<V1Pod>;
  readonly #loop: ReconcileLoop;
  #stopped = false;

  constructor(ctx: ClusterContext, node: NodeNet, opts: KubeletOptions = {}) {
    this.#ctx = ctx;
    this.#node = node;
    this.#logger = ctx.logger.child({ component: 'kubelet', node: node.name });
    this.#core = ctx.kubeConfig.makeApiClient(CoreV1Api);
    this.#clock = opts.clock ?? realClock;
    this.#tokenClock = opts.clock ?? { ...unrefTimers, now: () => Date.now() };
    this.#spawn = opts.spawn ?? spawnInNetns;
    this.#registry = podRegistryFor(ctx.network);
    const fieldSelector = `spec.nodeName=${node.name}`;
    this.#informer = new ResilientInformer<V1Pod>(ctx.kubeConfig, {
      path: '/api/v1/pods',
      fieldSelector,
      list: () => this.#core.listPodForAllNamespaces({ fieldSelector }),
      logger: this.#logger,
      onEvent: () => this.#loop.offer(),
    });
    this.#loop = reconcileLoop(`kubelet ${node.name}`, () => this.#reconcile(), this.#logger, { debounceMs: 20 });
  }

  get nodeName(): string {
    return this.#node.name;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#registerNode();
    await this.#informer.start();
    this.#loop.offer();
    this.#logger.info({ ip: this.#node.ip, podCidr: this.#node.podCidr }, 'kubelet started');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer.stop();
    await this.#loop.stop();
    await Promise.all(
      [...this.#pods.values()].map(async (e) => {
        clearTimeout(e.writeTimer);
        await e.tokens.stop();
        await e.worker.stop();
        await e.writing;
      }),
    );
    this.#pods.clear();
  }

  async #registerNode(): Promise<void> {
    const facts = { name: this.#node.name, ip: this.#node.ip, podCidr: this.#node.podCidr };
    const now = new Date(this.#clock.now()).toISOString();
    const body = nodeObject(facts, now);
    try {
      await this.#core.createNode({ body });
    } catch (err) {
      if (!isConflict(err)) throw err;
      const meta = body.metadata as { labels: Record<string, string> };
      await this.#core.patchNode({ name: facts.name, body: { metadata: { labels: meta.labels }, spec: body.spec } }, mergePatch);
    }
    // Status is a subresource: a create may drop it, so it is always written separately.
    await this.#core.patchNodeStatus({ name: facts.name, body: { status: nodeStatus(facts, now, now) } }, mergePatch);
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const desired = new Map<string, V1Pod>();
    for (const pod of this.#informer.list()) {
      if (pod.spec?.nodeName !== this.#node.name || pod.metadata?.deletionTimestamp) continue;
      desired.set(pod.metadata!.uid!, pod);
    }
    const removals = [...this.#pods.keys()].filter((uid) => !desired.has(uid)).map((uid) => this.#removePod(uid));
    const starts: Promise<void>[] = [];
    for (const [uid, pod] of desired) {
      if (this.#pods.has(uid) || this.#starting.has(uid)) continue;
      // A pod that finished before a restart of the cluster stays finished.
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      starts.push(this.#startPod(pod));
    }
    const results = await Promise.allSettled([...removals, ...starts]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async #startPod(pod: V1Pod): Promise<void> {
    const { uid, name, namespace } = pod.metadata as { uid: string; name: string; namespace: string };
    const log = this.#logger.child({ pod: `${namespace}/${name}` });
    this.#starting.add(uid);
    const hostNetwork = pod.spec?.hostNetwork === true;
    try {
      // A pod that had an address before a restart of the cluster keeps it if it is still free.
      const preferredIp = pod.status?.podIP;
      const net = await this.#ctx.network
        .addPod(this.#node, { uid, namespace, name, hostNetwork, ...(preferredIp ? { preferredIp } : {}) })
        .catch((err: unknown) => {
          // As the real kubelet: the pod stays Pending and its sandbox is retried.
          const message = `Failed to create pod sandbox: ${(err as Error).message}`;
          void recordEvent(this.#core, log, { kind: 'Pod', name, namespace, uid }, 'Warning', 'FailedCreatePodSandBox', message, 'kubelet', this.#node.name);
          throw err;
        });
      if (this.#stopped) return;
      const logDir = podLogDir(this.#ctx.dataDir, { namespace, name, uid });
      const plan = planPodTokens(pod, logDir);
      for (const why of plan.invalid) {
        log.warn({ why }, 'projected service account token not written');
        void recordEvent(this.#core, log, { kind: 'Pod', name, namespace, uid }, 'Warning', 'FailedMount', why, 'kubelet', this.#node.name);
      }
      const tokens = new PodTokens({ core: this.#core, pod, tokens: plan.tokens, clock: this.#tokenClock, logger: log });
      await tokens.start();
      if (this.#stopped) {
        await tokens.stop();
        return;
      }
      // A token that could not be written yet is retried: its file appears later.
      const tokenFile = plan.tokens.find((t) => !t.source)?.file;
      await this.#registry.add({ uid, name, namespace, net });
      const entry: RunningPodEntry = {
        pod,
        net,
        tokens,
        writing: Promise.resolve(),
        worker: new PodWorker({
          pod,
          netns: net.netns,
          facts: {
            podIP: net.ip,
            hostIP: this.#node.ip,
            binPath: this.#ctx.binPath,
            clusterId: this.#ctx.network.clusterId,
            ...(tokenFile ? { tokenFile } : {}),
            projectedTokens: projectedTokenFiles(plan),
          },
          logDir,
          spawn: this.#spawn,
          clock: this.#clock,
          logger: log,
          onChange: () => this.#scheduleStatus(uid),
        }),
      };
      this.#pods.set(uid, entry);
      entry.worker.start();
      log.info({ ip: net.ip, netns: net.netns }, 'pod started');
      void recordEvent(
        this.#core,
        log,
        { kind: 'Pod', name, namespace, uid },
        'Normal',
        'Started',
        `Started pod on ${this.#node.name} with IP ${net.ip}`,
        'kubelet',
        this.#node.name,
      );
    } finally {
      this.#starting.delete(uid);
    }
  }

  async #removePod(uid: string): Promise<void> {
    const entry = this.#pods.get(uid);
    if (!entry) return;
    this.#pods.delete(uid);
    clearTimeout(entry.writeTimer);
    const { name, namespace } = entry.pod.metadata as { name: string; namespace: string };
    await entry.tokens.stop(); // before the directory goes: a write under way would recreate it
    await entry.worker.stop();
    this.#registry.remove(uid);
    await this.#ctx.network.removePod(this.#node, { uid, namespace, name });
    await rm(podLogDir(this.#ctx.dataDir, { namespace, name, uid }), { recursive: true, force: true });
    this.#logger.info({ pod: `${namespace}/${name}` }, 'pod removed');
  }

  #scheduleStatus(uid: string): void {
    const entry = this.#pods.get(uid);
    if (!entry || this.#stopped || entry.writeTimer) return;
    entry.writeTimer = setTimeout(() => {
      entry.writeTimer = undefined;
      entry.writing = entry.writing
        .then(() => this.#writeStatus(entry))
        .catch((err: unknown) => {
          this.#logger.warn({ err, pod: entry.pod.metadata?.name }, 'pod status not written; retrying');
          setTimeout(() => this.#scheduleStatus(uid), 1_000).unref();
        });
    }, 20);
  }

  async #writeStatus(entry: RunningPodEntry): Promise<void> {
    if (this.#pods.get(entry.pod.metadata!.uid!) !== entry) return; // removed meanwhile
    const status = computePodStatus(entry.worker.state, entry.conditions, new Date(this.#clock.now()).toISOString());
    const rendered = canonicalJson(status);
    if (rendered === entry.lastWritten) return;
    const { name, namespace } = entry.pod.metadata as { name: string; namespace: string };
    try {
      await this.#core.patchNamespacedPodStatus({ name, namespace, body: { status } }, mergePatch);
    } catch (err) {
      if (isNotFound(err)) return; // deleted: the watch will remove it
      throw err;
    }
    entry.lastWritten = rendered;
    entry.conditions = status.conditions;
  }
}
