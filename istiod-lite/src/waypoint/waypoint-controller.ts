// Leader-only: keeps a ServiceAccount, Deployment and Service for every waypoint of the model
// (server-side apply, field manager istiod-lite) and the istio-waypoint GatewayClass. The model
// decides which Gateways are waypoints (findWaypoints), so status and Deployments never
// disagree. Removal is the API server's job: the objects are owned by their Gateway.
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage } from '@ambient/api/kube';
import { FIELD_MANAGER } from '../kube/crds.ts';
import type { Waypoint } from '../model/waypoints.ts';
import { LeaderWrites, type LeaderWritesOptions } from '../status/leader-writes.ts';
import { defaultProxyPodOptions, type ProxyPodOptions } from '../proxy-pod.ts';
import { waypointGatewayClassObject, waypointObjects } from './waypoint-manifests.ts';

export interface WaypointControllerOptions extends LeaderWritesOptions {
  logger: Logger;
  /** What the waypoint pods are told about the control plane; default defaultProxyPodOptions. */
  pod?: ProxyPodOptions;
}

export interface ReconcileResult {
  applied: number;
  unchanged: number;
  failed: number;
  notLeader: boolean;
}

const objectKey = (o: KubernetesObject): string => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

export class WaypointController extends LeaderWrites<readonly Waypoint[], ReconcileResult> {
  readonly #objects: KubernetesObjectApi;
  readonly #logger: Logger;
  readonly #pod: ProxyPodOptions;

  constructor(kc: KubeConfig, opts: WaypointControllerOptions) {
    super(opts);
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
    this.#logger = opts.logger.child({ component: 'waypoint-controller' });
    this.#pod = opts.pod ?? defaultProxyPodOptions;
  }

  /** Reconciles the model's waypoints in the background, newest wins, failures retried after retryMs. */
  override update(waypoints: Iterable<Waypoint>): void {
    super.update([...waypoints]);
  }

  /** Ensures the objects of every waypoint in `waypoints` now (serialized with the background runs). */
  reconcile(waypoints: readonly Waypoint[]): Promise<ReconcileResult> {
    return this.run(waypoints);
  }

  protected override async writeAll(waypoints: readonly Waypoint[]): Promise<ReconcileResult> {
    const result: ReconcileResult = { applied: 0, unchanged: 0, failed: 0, notLeader: false };
    const wanted = [waypointGatewayClassObject(), ...waypoints.flatMap((wp) => waypointObjects(wp, this.#pod))];
    const live = new Set(wanted.map(objectKey));
    const applied = this.confirmed;
    for (const k of applied.keys()) if (!live.has(k)) applied.delete(k); // gone with their Gateway
    for (const obj of wanted) {
      if (!this.isLeader()) return { ...result, notLeader: true };
      const k = objectKey(obj);
      const body = JSON.stringify(obj);
      if (applied.get(k) === body) {
        result.unchanged++;
        continue;
      }
      try {
        await this.#objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
        applied.set(k, body);
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
