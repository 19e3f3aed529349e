// The status the model wants on each Kubernetes object; the status writer applies it.
import type { Condition } from './conditions.ts';

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
