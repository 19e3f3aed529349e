// The status the model wants on each Kubernetes object; the status writer applies it.
import { condition, type Condition } from './conditions.ts';
import type { KubeObject } from './inputs.ts';
import { generationOf, nameOf, namespaceOf } from './kube-object.ts';

export interface RouteParentStatus {
  parentRef: { group?: string; kind?: string; namespace?: string; name: string; port?: number; sectionName?: string };
  controllerName: string;
  conditions: Condition[];
}

export interface ObjectStatus {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** Top-level status.conditions (not used for routes: see parents). */
  conditions: Condition[];
  /** Gateway only: status.addresses and per-listener conditions (Gateway API shape). */
  gateway?: {
    addresses: { type: 'IPAddress' | 'Hostname'; value: string }[];
    listeners: { name: string; attachedRoutes: number; conditions: Condition[]; supportedKinds: { group: string; kind: string }[] }[];
  };
  /** HTTPRoute/GRPCRoute only: status.parents, one entry per parentRef (Gateway API shape). */
  parents?: RouteParentStatus[];
}

/** For an object whose status is one condition (ZtunnelAccepted, WaypointAccepted): a function
 *  from the verdict to the status to write. `apiVersion` is the default when the object has none. */
export function conditionStatusOf(
  object: KubeObject,
  kind: string,
  apiVersion: string,
  type: string,
): (ok: boolean, reason: string, message: string) => ObjectStatus {
  return (ok, reason, message) => ({
    apiVersion: object.apiVersion ?? apiVersion,
    kind,
    namespace: namespaceOf(object),
    name: nameOf(object),
    conditions: [condition(type, ok, reason, message, generationOf(object))],
  });
}
