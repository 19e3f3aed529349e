// Leader-only work: status conditions, waypoint Deployments and the sidecar injector's
// MutatingWebhookConfiguration. All exist only while this replica leads (one writer at a time);
// a new leader starts from the current model, since another replica may have written in between.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { InjectorTarget } from './inject/webhook-configuration.ts';
import { WebhookConfigWriter } from './inject/webhook-config-writer.ts';
import type { MeshModel } from './model/mesh-model.ts';
import type { ProxyPodOptions } from './proxy-pod.ts';
import { StatusWriter } from './status/status-writer.ts';
import { WaypointController } from './waypoint/waypoint-controller.ts';

export interface LeaderWorkOptions {
  /** What waypoint pods are told about the control plane; default defaultProxyPodOptions. */
  proxyPod?: ProxyPodOptions;
  /** Where the injection webhook is: the leader keeps istio-sidecar-injector pointing there. Unset: no webhook configuration is written. */
  injector?: InjectorTarget;
}

export class LeaderWork {
  readonly #kc: KubeConfig;
  readonly #logger: Logger;
  readonly #opts: LeaderWorkOptions;
  #statusWriter: StatusWriter | undefined;
  #waypoints: WaypointController | undefined;
  #injector: WebhookConfigWriter | undefined;
  #injectorStopped: Promise<void> = Promise.resolve();

  constructor(kc: KubeConfig, logger: Logger, opts: LeaderWorkOptions = {}) {
    this.#kc = kc;
    this.#logger = logger;
    this.#opts = opts;
  }

  get leading(): boolean {
    return this.#statusWriter !== undefined;
  }

  /** Became leader: start writing, beginning with `model`. */
  lead(model: MeshModel | undefined): void {
    this.#statusWriter ??= new StatusWriter(this.#kc, { logger: this.#logger });
    this.#waypoints ??= new WaypointController(this.#kc, { logger: this.#logger, ...(this.#opts.proxyPod ? { pod: this.#opts.proxyPod } : {}) });
    if (this.#opts.injector && !this.#injector) {
      this.#injector = new WebhookConfigWriter(this.#kc, { target: this.#opts.injector, logger: this.#logger });
      this.#injector.start();
    }
    if (model) this.update(model);
  }

  /** Stopped leading: no writes after this; resolves when the injector's watch and writes have ended. */
  stepDown(): Promise<void> {
    this.#statusWriter?.stop();
    this.#waypoints?.stop();
    if (this.#injector) {
      const injector = this.#injector;
      this.#injectorStopped = this.#injectorStopped.then(() => injector.stop());
    }
    this.#statusWriter = undefined;
    this.#waypoints = undefined;
    this.#injector = undefined;
    return this.#injectorStopped;
  }

  /** A new model: its statuses and waypoints, if leading; nothing otherwise. */
  update(model: MeshModel): void {
    this.#statusWriter?.update(model.statuses);
    this.#waypoints?.update(model.waypointGateways.values());
  }
}
