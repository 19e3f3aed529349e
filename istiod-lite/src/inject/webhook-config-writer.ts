// Leader-only: keeps MutatingWebhookConfiguration istio-sidecar-injector in place and pointing
// at this istiod-lite with the mesh root as caBundle. It watches that one object, so a deletion
// or an edit of clientConfig/caBundle is undone at once; it creates the object when it is
// missing and otherwise patches only those fields (webhook-configuration.ts), so what a user
// changed on purpose (failurePolicy: Ignore, say) stays. Writes are JSON patches guarded by
// `test` operations; a lost race fails and the next pass reads again.
import { AdmissionregistrationV1Api, type KubeConfig, type V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import { apiErrorMessage, apiStatusCode, isNotFound, LatestWins, ResilientInformer } from '@ambient/api/kube';
import { FIELD_MANAGER } from '../kube/crds.ts';
import { INJECTOR_CONFIGURATION, type InjectorTarget, sidecarInjectorConfiguration, webhookConfigurationPatch } from './webhook-configuration.ts';

export type WebhookConfigOutcome = 'created' | 'patched' | 'unchanged' | 'not-leader';

export interface WebhookConfigWriterOptions {
  target: InjectorTarget;
  logger: Logger;
  /** Writes happen only while this holds. Default: until stop(). */
  isLeader?: () => boolean;
  /** First retry after a failed write; doubles up to maxRetryMs. Defaults 1 s and 60 s. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Timers of the retries; tests drive them. */
  clock?: Clock;
}

const collectionPath = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

export class WebhookConfigWriter {
  readonly #api: AdmissionregistrationV1Api;
  readonly #log: Logger;
  readonly #wanted: ReturnType<typeof sidecarInjectorConfiguration>;
  readonly #leader: () => boolean;
  readonly #informer: ResilientInformer<V1MutatingWebhookConfiguration>;
  readonly #background: LatestWins<true>;
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(kc: KubeConfig, opts: WebhookConfigWriterOptions) {
    this.#api = kc.makeApiClient(AdmissionregistrationV1Api);
    this.#log = opts.logger.child({ component: 'webhook-config-writer', object: INJECTOR_CONFIGURATION });
    this.#wanted = sidecarInjectorConfiguration(opts.target);
    this.#leader = opts.isLeader ?? (() => true);
    const fieldSelector = `metadata.name=${INJECTOR_CONFIGURATION}`;
    this.#informer = new ResilientInformer<V1MutatingWebhookConfiguration>(kc, {
      path: collectionPath,
      fieldSelector,
      list: () => this.#api.listMutatingWebhookConfiguration({ fieldSelector }),
      // An API server that does not serve admission webhooks: nothing to watch yet, not an outage.
      missingIsEmpty: true,
      logger: this.#log,
      // Every change, including our own writes (then the pass finds nothing to do).
      onEvent: () => this.#background.offer(true),
    });
    this.#background = new LatestWins<true>(
      async () => {
        await this.reconcile();
      },
      {
        retryMs: opts.retryMs ?? 1_000,
        maxRetryMs: opts.maxRetryMs ?? 60_000,
        ...(opts.clock ? { clock: opts.clock } : {}),
        onError: (err, failures) => {
          // Loud once, then quiet: an API server without admissionregistration.k8s.io fails every pass.
          const level = failures === 1 ? 'warn' : 'debug';
          const hint = apiStatusCode(err) === 404 ? ' (does the API server serve admissionregistration.k8s.io/v1?)' : '';
          this.#log[level]({ err: apiErrorMessage(err), failures }, `cannot write MutatingWebhookConfiguration ${INJECTOR_CONFIGURATION}${hint}; retrying`);
        },
      },
    );
  }

  /** Starts watching the object and writes it now (in the background). */
  start(): void {
    void this.#informer.start();
    this.#background.offer(true);
  }

  /** No writes after this; resolves when a write in flight has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([this.#background.stop(), this.#informer.stop()]);
    await this.#queue;
  }

  /** One pass now, after any pass in progress: create, patch or leave the live object. */
  reconcile(): Promise<WebhookConfigOutcome> {
    const pass = this.#queue.then(() => this.#pass());
    this.#queue = pass.catch(() => undefined);
    return pass;
  }

  async #pass(): Promise<WebhookConfigOutcome> {
    if (this.#stopped || !this.#leader()) return 'not-leader';
    let live: V1MutatingWebhookConfiguration | undefined;
    try {
      live = await this.#api.readMutatingWebhookConfiguration({ name: INJECTOR_CONFIGURATION });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (this.#stopped || !this.#leader()) return 'not-leader';
    if (live === undefined) {
      await this.#api.createMutatingWebhookConfiguration({ body: this.#wanted as V1MutatingWebhookConfiguration, fieldManager: FIELD_MANAGER });
      this.#log.info('created the sidecar injector configuration');
      return 'created';
    }
    const ops = webhookConfigurationPatch(live, this.#wanted);
    if (ops.length === 0) return 'unchanged';
    await this.#api.patchMutatingWebhookConfiguration({ name: INJECTOR_CONFIGURATION, body: ops, fieldManager: FIELD_MANAGER });
    this.#log.info({ paths: ops.filter((o) => o.op !== 'test').map((o) => o.path) }, 'corrected the sidecar injector configuration');
    return 'patched';
  }
}
