// Keeps ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in every namespace, as istiod
// does, so workloads and tools find the mesh root where Istio puts it. Watches namespaces (a
// new one gets the ConfigMap at once) and the ConfigMaps themselves (one deleted or edited by
// hand is put back). Several replicas may run it: they write the same content, and a lost
// create race is just a retry.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage, apiStatusCode, mergePatch, ResilientInformer } from '@ambient/api/kube';

export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
const CONFIG_LABEL = 'istio.io/config';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

export interface RootCertPublisherOptions {
  kc: KubeConfig;
  rootCertPem: string;
  logger: Logger;
}

export class RootCertPublisher {
  readonly #core: CoreV1Api;
  readonly #log: Logger;
  readonly #namespaces: ResilientInformer<V1Namespace>;
  readonly #configMaps: ResilientInformer<V1ConfigMap>;
  readonly #queue = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  #rootCertPem: string;
  #draining: Promise<void> | undefined;
  #stopped = true;

  constructor(opts: RootCertPublisherOptions) {
    this.#core = opts.kc.makeApiClient(CoreV1Api);
    this.#log = opts.logger.child({ component: 'root-cert-publisher' });
    this.#rootCertPem = opts.rootCertPem;
    // Informers that outlive an API server restart, so publishing resumes on reconnect.
    const fieldSelector = `metadata.name=${ROOT_CERT_CONFIGMAP}`;
    this.#namespaces = new ResilientInformer<V1Namespace>(opts.kc, {
      path: '/api/v1/namespaces',
      list: () => this.#core.listNamespace(),
      logger: this.#log,
      onEvent: (event, ns) => {
        if (event !== 'delete') this.#enqueue(ns.metadata?.name);
      },
    });
    this.#configMaps = new ResilientInformer<V1ConfigMap>(opts.kc, {
      path: '/api/v1/configmaps',
      fieldSelector,
      list: () => this.#core.listConfigMapForAllNamespaces({ fieldSelector }),
      logger: this.#log,
      onEvent: (_event, cm) => this.#enqueue(cm.metadata?.namespace),
    });
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await Promise.all([this.#namespaces.start(), this.#configMaps.start()]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.clear();
    await Promise.all([this.#namespaces.stop(), this.#configMaps.stop()]);
    // Let a write in flight finish, so nothing touches the API server after stop() resolves.
    await this.#draining;
  }

  /** A new root (e.g. a plug-in CA was installed): republish it everywhere. */
  setRootCert(pem: string): void {
    if (pem === this.#rootCertPem) return;
    this.#rootCertPem = pem;
    for (const ns of this.#namespaces.list()) this.#enqueue(ns.metadata?.name);
  }

  #enqueue(namespace: string | undefined): void {
    if (namespace === undefined || this.#stopped) return;
    this.#queue.add(namespace);
    this.#kick();
  }

  #kick(): void {
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
      // Something queued between the loop's last check and here must not wait for the next event.
      if (!this.#stopped && this.#queue.size > 0) this.#kick();
    });
  }

  // One write at a time: the work is a handful of small requests per namespace, and serial
  // processing keeps the API server load flat when thousands of namespaces arrive at once.
  async #drain(): Promise<void> {
    while (!this.#stopped && this.#queue.size > 0) {
      const namespace = this.#queue.values().next().value!;
      this.#queue.delete(namespace);
      try {
        await this.#reconcile(namespace);
        this.#failures.delete(namespace);
      } catch (err) {
        this.#retryLater(namespace, err);
      }
    }
  }

  async #reconcile(namespace: string): Promise<void> {
    const ns = this.#namespaces.get(namespace);
    // Writing into a namespace that is going away only fails or resurrects garbage.
    if (ns === undefined || ns.metadata?.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating') return;
    const pem = this.#rootCertPem;
    let current: V1ConfigMap | undefined;
    try {
      current = await this.#core.readNamespacedConfigMap({ name: ROOT_CERT_CONFIGMAP, namespace });
    } catch (err) {
      if (apiStatusCode(err) !== 404) throw err;
    }
    if (current === undefined) {
      await this.#core.createNamespacedConfigMap({
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: ROOT_CERT_CONFIGMAP, namespace, labels: { [CONFIG_LABEL]: 'true' } },
          data: { [ROOT_CERT_KEY]: pem },
        },
      });
      this.#log.debug({ namespace }, 'published mesh root');
      return;
    }
    if (current.data?.[ROOT_CERT_KEY] === pem && current.metadata?.labels?.[CONFIG_LABEL] === 'true') return;
    await this.#core.patchNamespacedConfigMap(
      {
        name: ROOT_CERT_CONFIGMAP,
        namespace,
        body: { metadata: { labels: { [CONFIG_LABEL]: 'true' } }, data: { [ROOT_CERT_KEY]: pem } },
      },
      mergePatch,
    );
    this.#log.info({ namespace }, 'updated mesh root');
  }

  #retryLater(namespace: string, err: unknown): void {
    if (this.#stopped) return;
    const failures = (this.#failures.get(namespace) ?? 0) + 1;
    this.#failures.set(namespace, failures);
    const delay = Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS);
    // A lost create race (409) is normal with several replicas; anything else is worth a look.
    const level = apiStatusCode(err) === 409 ? 'debug' : 'warn';
    this.#log[level]({ namespace, delayMs: delay, err: apiErrorMessage(err) }, `cannot publish ${ROOT_CERT_CONFIGMAP}; retrying`);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#enqueue(namespace);
    }, delay);
    this.#timers.add(timer);
  }
}
