// Leader-only work: status conditions and waypoint Deployments. Both exist only while this
// replica leads (one writer at a time); a new leader starts from the current model, since
// another replica may have written in between.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { MeshModel } from './model/mesh-model.ts';
import { StatusWriter } from './status/status-writer.ts';
import { WaypointController } from './waypoint/waypoint-controller.ts';
import type { WaypointPodOptions } from './waypoint/waypoint-manifests.ts';

export class LeaderWork {
  readonly #kc: KubeConfig;
  readonly #logger: Logger;
  readonly #waypointPod: WaypointPodOptions | undefined;
  #statusWriter: StatusWriter | undefined;
  #waypoints: WaypointController | undefined;

  constructor(kc: KubeConfig, logger: Logger, waypointPod?: WaypointPodOptions) {
    this.#kc = kc;
    this.#logger = logger;
    this.#waypointPod = waypointPod;
  }

  get leading(): boolean {
    return this.#statusWriter !== undefined;
  }

  /** Became leader: start writing, beginning with `model`. */
  lead(model: MeshModel | undefined): void {
    this.#statusWriter ??= new StatusWriter(this.#kc, { logger: this.#logger });
    this.#waypoints ??= new WaypointController(this.#kc, { logger: this.#logger, ...(this.#waypointPod ? { pod: this.#waypointPod } : {}) });
    if (model) this.update(model);
  }

  /** Stopped leading: no writes after this (requests in flight finish). */
  stepDown(): void {
    this.#statusWriter?.stop();
    this.#waypoints?.stop();
    this.#statusWriter = undefined;
    this.#waypoints = undefined;
  }

  /** A new model: its statuses and waypoints, if leading; nothing otherwise. */
  update(model: MeshModel): void {
    this.#statusWriter?.update(model.statuses);
    this.#waypoints?.update(model.waypointGateways.values());
  }
}
