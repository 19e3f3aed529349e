// REST paths of the objects istiod-lite writes, from apiVersion/kind/namespace/name.
import { meshResources } from './mesh-resources.ts';

const plurals = new Map<string, string>([
  ...meshResources.map((r) => [`${r.apiVersion}/${r.kind}`, r.path.slice(r.path.lastIndexOf('/') + 1)] as [string, string]),
  ['gateway.networking.k8s.io/v1/GatewayClass', 'gatewayclasses'],
  ['coordination.k8s.io/v1/Lease', 'leases'],
  ['v1/ConfigMap', 'configmaps'],
  ['v1/Secret', 'secrets'],
  ['apps/v1/Deployment', 'deployments'],
]);

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** `/api/v1/namespaces/shop/services/reviews` or `/apis/<group>/<version>/...`, plus `/<subresource>`. */
export function objectPath(ref: ObjectRef, subresource?: string): string {
  const plural = plurals.get(`${ref.apiVersion}/${ref.kind}`);
  if (!plural) throw new Error(`unknown resource kind ${ref.apiVersion}/${ref.kind}`);
  const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : '';
  return `${base}${ns}/${plural}/${encodeURIComponent(ref.name)}${subresource ? `/${subresource}` : ''}`;
}

/** The collection path for creating objects of a kind. */
export function collectionPath(ref: Omit<ObjectRef, 'name'>): string {
  const item = objectPath({ ...ref, name: 'x' });
  return item.slice(0, item.lastIndexOf('/'));
}
