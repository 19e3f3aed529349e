// Reading YAML/JSON manifests and applying them server-side, as `kubectl apply --server-side` does.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export function readManifests(path: string): KubernetesObject[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.(ya?ml|json)$/.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  const docs: KubernetesObject[] = [];
  for (const f of files) {
    for (const doc of loadAll(readFileSync(f, 'utf8'))) {
      if (doc === null || doc === undefined) continue;
      if (typeof doc !== 'object' || !('kind' in doc) || !('apiVersion' in doc)) throw new Error(`${f}: a document without apiVersion and kind`);
      docs.push(doc as KubernetesObject);
    }
  }
  return docs;
}

// Namespaces and CRDs first, so the objects that depend on them can be created.
const applyOrder = (o: KubernetesObject): number => (o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2);

export async function applyManifests(kc: KubeConfig, objects: KubernetesObject[], fieldManager: string): Promise<string[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const applied: string[] = [];
  for (const obj of [...objects].sort((a, b) => applyOrder(a) - applyOrder(b))) {
    await client.patch(obj, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
    applied.push(`${String(obj.kind).toLowerCase()}/${obj.metadata?.name}${obj.metadata?.namespace ? ` -n ${obj.metadata.namespace}` : ''}`);
  }
  return applied;
}
