// The cluster's objects normalized (every list an array of objects with metadata) and indexed by
// "<namespace>/<name>", built once per analysis and read by every rule.
import type { ClusterObjects, KubeObject } from './finding.ts';
import { labelsOf, matchesLabels, nameOf, namespaceOf, stringMap } from './kube-fields.ts';

export interface ClusterIndex {
  objects: ClusterObjects;
  namespaces: Map<string, KubeObject>;
  /** "<namespace>/<name>" */
  services: Map<string, KubeObject>;
  /** "<namespace>/<name>", every class: routes attach to ingress gateways too. */
  gateways: Map<string, KubeObject>;
  servicesByNamespace: Map<string, KubeObject[]>;
  podsByNamespace: Map<string, KubeObject[]>;
  /** spec.selector of each Service, read once: rules match it against every pod. */
  selectors: Map<KubeObject, Record<string, string>>;
}

const kinds = ['namespaces', 'services', 'pods', 'gateways', 'httpRoutes', 'grpcRoutes', 'authorizationPolicies', 'peerAuthentications'] as const;

export function indexCluster(input: Partial<ClusterObjects> | undefined): ClusterIndex {
  const objects = Object.fromEntries(kinds.map((k) => [k, wellFormed(input?.[k])])) as unknown as ClusterObjects;
  return {
    objects,
    namespaces: new Map(objects.namespaces.map((n) => [nameOf(n), n])),
    services: byKey(objects.services),
    gateways: byKey(objects.gateways),
    servicesByNamespace: byNamespace(objects.services),
    podsByNamespace: byNamespace(objects.pods),
    selectors: new Map(objects.services.map((s) => [s, stringMap(s.spec?.selector)])),
  };
}

export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Services select pods of their own namespace; one without a selector selects none. */
function selects(selector: Record<string, string> | undefined, podLabels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && matchesLabels(selector, podLabels);
}

export function servicesIn(index: ClusterIndex, namespace: string): KubeObject[] {
  return index.servicesByNamespace.get(namespace) ?? [];
}

export function podsIn(index: ClusterIndex, namespace: string): KubeObject[] {
  return index.podsByNamespace.get(namespace) ?? [];
}

export function servicesSelecting(index: ClusterIndex, pod: KubeObject): KubeObject[] {
  const labels = labelsOf(pod);
  return servicesIn(index, namespaceOf(pod)).filter((s) => selects(index.selectors.get(s), labels));
}

export function podsSelectedBy(index: ClusterIndex, service: KubeObject): KubeObject[] {
  const selector = index.selectors.get(service);
  return podsIn(index, namespaceOf(service)).filter((p) => selects(selector, labelsOf(p)));
}

function wellFormed(list: unknown): KubeObject[] {
  if (!Array.isArray(list)) return [];
  return list.filter((o): o is KubeObject => typeof o === 'object' && o !== null && typeof o.metadata === 'object' && o.metadata !== null && nameOf(o) !== '');
}

function byKey(list: KubeObject[]): Map<string, KubeObject> {
  return new Map(list.map((o) => [keyOf(namespaceOf(o), nameOf(o)), o]));
}

function byNamespace(list: KubeObject[]): Map<string, KubeObject[]> {
  const out = new Map<string, KubeObject[]>();
  for (const o of list) {
    const ns = namespaceOf(o);
    const same = out.get(ns);
    if (same) same.push(o);
    else out.set(ns, [o]);
  }
  return out;
}
