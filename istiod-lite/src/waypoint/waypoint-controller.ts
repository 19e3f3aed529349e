// Leader-only: keeps a ServiceAccount, Deployment and Service for every waypoint of the model
// (server-side apply, field manager istiod-lite) and the istio-waypoint GatewayClass. The model
// decides which Gateways are waypoints (findWaypoints), so status and Deployments never
// disagree. Removal is the API server's job: the objects are owned by their Gateway.
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage, LatestWins } from '@ambient/api/kube';
import { FIELD_MANAGER } from '../kube/crds.ts';
import type { Waypoint } from '../model/waypoints.ts';
import { waypointGatewayClassObject, waypointObjects } from './waypoint-manifests.ts';

export interface WaypointControllerOptions {
  logger: Logger;
  /** Applies happen only while this returns true. Default: until stop(). */
  isLeader?: () => boolean;
  /** Delay before failed applies are retried by update(). Default 2 s. */
  retryMs?: number;
}

export interface ReconcileResult {
  applied: number;
  unchanged: number;
  failed: number;
  notLeader: boolean;
}

const objectKey = (o: KubernetesObject): string => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

export class WaypointController {
  readonly #objects: KubernetesObjectApi;
  readonly #logger: Logger;
  /** Last applied body per object: an unchanged Gateway costs no API call. */
  readonly #applied = new Map<string, string>();
  readonly #isLeader: () => boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;
  readonly #background: LatestWins<readonly Waypoint[]>;

  constructor(kc: KubeConfig, opts: WaypointControllerOptions) {
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
    this.#logger = opts.logger.child({ component: 'waypoint-controller' });
    const leader = opts.isLeader ?? (() => true);
    this.#isLeader = () => !this.#stopped && leader();
    this.#background = new LatestWins((input) => this.reconcile(input), { retryMs: opts.retryMs ?? 2_000 });
  }

  /** Fire and forget: reconciles the model's waypoints in the background, newest wins, failures retried after retryMs. */
  update(waypoints: Iterable<Waypoint>): void {
    this.#background.offer([...waypoints]);
  }

  /** No applies after this (in-flight requests finish). */
  stop(): void {
    this.#stopped = true;
    void this.#background.stop();
  }

  /** Forget what was applied (call on becoming leader). */
  reset(): void {
    this.#applied.clear();
  }

  /** Ensures the objects of every waypoint in `waypoints`; serialized across calls. */
  reconcile(waypoints: readonly Waypoint[]): Promise<ReconcileResult> {
    const run = this.#queue.then(() => this.#reconcile(waypoints));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reconcile(waypoints: readonly Waypoint[]): Promise<ReconcileResult> {
    const result: ReconcileResult = { applied: 0, unchanged: 0, failed: 0, notLeader: false };
    const wanted = [waypointGatewayClassObject(), ...waypoints.flatMap(waypointObjects)];
    const live = new Set(wanted.map(objectKey));
    for (const k of this.#applied.keys()) if (!live.has(k)) this.#applied.delete(k); // gone with their Gateway
    for (const obj of wanted) {
      if (!this.#isLeader()) return { ...result, notLeader: true };
      const k = objectKey(obj);
      const body = JSON.stringify(obj);
      if (this.#applied.get(k) === body) {
        result.unchanged++;
        continue;
      }
      try {
        await this.#objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
        this.#applied.set(k, body);
        result.applied++;
      } catch (err) {
        // e.g. the Gateway was deleted a moment ago and its namespace is terminating
        result.failed++;
        this.#logger.warn({ object: k, err: apiErrorMessage(err) }, 'cannot apply waypoint object');
      }
    }
    return result;
  }
}
