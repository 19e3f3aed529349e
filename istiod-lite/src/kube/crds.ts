// Installs the mesh's CRDs (deploy/crds) with server-side apply, as `kubectl apply
// --server-side` would, and waits until each is Established so informers started right after
// find their collections served.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, KubernetesObjectApi, loadAllYaml, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'istiod-lite';
export const defaultCrdDir = resolve(import.meta.dirname, '../../../deploy/crds');

export interface EnsureCrdsOptions {
  /** How long to wait for every CRD to report Established. Default 10 s. */
  timeoutMs?: number;
}

/**
 * Reads every CustomResourceDefinition in `dir` (*.yaml, *.yml, *.json), sorted by file name, as
 * client-node's typed models: the typed client serializes what it sends from those, and a plain
 * object's `x-kubernetes-preserve-unknown-fields` (the model calls it
 * `xKubernetesPreserveUnknownFields`) would be silently dropped from every nested schema, so
 * the API server would prune e.g. a DestinationRule's whole trafficPolicy.
 */
export function readCrds(dir: string = defaultCrdDir): KubernetesObject[] {
  const crds: KubernetesObject[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()) {
    const path = join(dir, file);
    for (const doc of loadAllYaml(readFileSync(path, 'utf8'))) {
      if (doc === null || doc === undefined) continue;
      const obj = doc as KubernetesObject;
      if (obj.kind !== 'CustomResourceDefinition' || !obj.metadata?.name) {
        throw new Error(`${path}: expected CustomResourceDefinitions only, found ${String(obj.kind)} ${String(obj.metadata?.name)}`);
      }
      crds.push(obj);
    }
  }
  return crds;
}

/** Applies the CRDs and waits until they are Established; returns their names. */
export async function ensureCrds(kc: KubeConfig, dir: string = defaultCrdDir, opts: EnsureCrdsOptions = {}): Promise<string[]> {
  const crds = readCrds(dir);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const crd of crds) {
    try {
      await objects.patch(crd, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw new Error(`cannot apply crd ${crd.metadata!.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  const names = crds.map((c) => c.metadata!.name!);
  await waitEstablished(kc.makeApiClient(ApiextensionsV1Api), names, opts.timeoutMs ?? 10_000);
  return names;
}

async function waitEstablished(api: ApiextensionsV1Api, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = names;
  while (pending.length > 0) {
    const states = await Promise.all(
      pending.map(async (name) => {
        const crd = await api.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? undefined : name;
      }),
    );
    pending = states.filter((n): n is string => n !== undefined);
    if (pending.length === 0) return;
    if (Date.now() >= deadline) throw new Error(`crds not established after ${timeoutMs} ms: ${pending.join(', ')}`);
    await sleep(100);
  }
}
