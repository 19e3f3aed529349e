// The control plane's view of Kubernetes: one resilient informer per watched collection, a
// cheap snapshot for the model, change notifications for the (debouncing) app, and a pod
// index by node for the CA's "is this identity on the caller's node" check.
import { performance } from 'node:perf_hooks';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ResilientInformer, stripManagedFields, type InformerEvent } from '@ambient/api/kube';
import { emptyInputs, type KubeObject, type MeshInputs } from '../model/inputs.ts';
import { meshResources, type MeshResource } from './mesh-resources.ts';
import { RawClient } from './raw-client.ts';
import type { PodLookup, PodRecord } from './pod-lookup.ts';

export interface MeshSourcesOptions {
  logger: Logger;
  /** First delay before restarting a failed list/watch (doubles up to 5 s). Default 250 ms. */
  resyncBackoffMs?: number;
  /** start() rejects when some collection has not listed by then. Default 30 s. */
  startTimeoutMs?: number;
}

export type ChangeListener = (kinds: Set<string>, seenAt: number) => void;

export class MeshSources implements PodLookup {
  readonly #informers: { resource: MeshResource; informer: ResilientInformer }[];
  readonly #listeners = new Set<ChangeListener>();
  readonly #logger: Logger;
  readonly #startTimeoutMs: number;
  /** node name → pod uid → facts; kept by pod events so lookups don't scan every pod. */
  readonly #podsByNode = new Map<string, Map<string, PodRecord>>();
  readonly #nodeOfPod = new Map<string, string>();

  constructor(kc: KubeConfig, opts: MeshSourcesOptions) {
    this.#logger = opts.logger.child({ component: 'mesh-sources' });
    this.#startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    const client = RawClient.create(kc);
    this.#informers = meshResources.map((resource) => ({
      resource,
      informer: new ResilientInformer(kc, {
        path: resource.path,
        name: resource.kind,
        list: () => client.listRaw(resource.path, resource.apiVersion, resource.kind),
        // CRDs may be installed after istiod starts (or never, for optional kinds).
        missingIsEmpty: true,
        logger: this.#logger,
        backoffMs: opts.resyncBackoffMs,
        onEvent: (event, obj) => this.#onEvent(resource, event, obj),
        // The model never reads them; status writes are merge patches, not applies.
        strip: stripManagedFields,
      }),
    }));
  }

  /** Starts every informer; resolves once each has listed, rejects naming the laggards after startTimeoutMs. */
  async start(): Promise<void> {
    for (const { informer } of this.#informers) void informer.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const pending = this.#informers.filter((i) => !i.informer.synced).map((i) => i.resource.kind);
        reject(new Error(`mesh sources not synced after ${this.#startTimeoutMs} ms: ${pending.join(', ')}`));
      }, this.#startTimeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.#informers.map((i) => i.informer.whenSynced())), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.informer.stop()));
  }

  /** The caches as arrays; the objects are the cached ones (treat as read-only). */
  snapshot(): MeshInputs {
    const inputs = emptyInputs();
    for (const { resource, informer } of this.#informers) {
      const target = inputs[resource.input] as KubeObject[];
      for (const obj of informer.list()) target.push(obj as KubeObject);
    }
    return inputs;
  }

  /** Called once per add/update/delete with the object's kind; returns an unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  podsOnNode(node: string): PodRecord[] {
    return [...(this.#podsByNode.get(node)?.values() ?? [])];
  }

  podByName(namespace: string, name: string): PodRecord | undefined {
    const pod = this.#informers.find((i) => i.resource.kind === 'Pod')!.informer.get(name, namespace);
    return pod ? podFacts(pod as KubeObject) : undefined;
  }

  #onEvent(resource: MeshResource, event: InformerEvent, obj: KubernetesObject): void {
    const seenAt = performance.now();
    if (resource.kind === 'Pod') this.#indexPod(event, obj as KubeObject);
    const kinds = new Set([resource.kind]);
    for (const listener of this.#listeners) {
      try {
        listener(kinds, seenAt);
      } catch (err) {
        this.#logger.error({ err, kind: resource.kind }, 'change listener failed');
      }
    }
  }

  #indexPod(event: InformerEvent, pod: KubeObject): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const previousNode = this.#nodeOfPod.get(uid);
    if (previousNode !== undefined) {
      this.#podsByNode.get(previousNode)?.delete(uid);
      if (this.#podsByNode.get(previousNode)?.size === 0) this.#podsByNode.delete(previousNode);
      this.#nodeOfPod.delete(uid);
    }
    const facts = podFacts(pod);
    if (event === 'delete' || !facts.nodeName) return;
    let onNode = this.#podsByNode.get(facts.nodeName);
    if (!onNode) this.#podsByNode.set(facts.nodeName, (onNode = new Map()));
    onNode.set(uid, facts);
    this.#nodeOfPod.set(uid, facts.nodeName);
  }
}

function podFacts(pod: KubeObject): PodRecord {
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    // Kubernetes defaults serviceAccountName to 'default'; an object without it is that one.
    serviceAccount: pod.spec?.serviceAccountName ?? 'default',
    nodeName: pod.spec?.nodeName || undefined,
    phase: pod.status?.phase,
  };
}
