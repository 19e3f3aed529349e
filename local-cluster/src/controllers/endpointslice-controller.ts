// Services with a selector → EndpointSlices listing their pods (see compute-endpoint-slices.ts).
// Only slices carrying our managed-by label are touched.
import { DiscoveryV1Api, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound } from '@ambient/api/kube';
import type { ClusterContext } from './cluster-context.ts';
import type { ClusterInformers } from './cluster-informers.ts';
import { canonicalJson } from './name-suffix.ts';
import { computeEndpointSlices, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from './compute-endpoint-slices.ts';

function sliceContent(s: V1EndpointSlice): string {
  return canonicalJson({
    labels: s.metadata?.labels,
    owners: s.metadata?.ownerReferences,
    addressType: s.addressType,
    ports: s.ports ?? [],
    endpoints: s.endpoints ?? [],
  });
}

export function makeEndpointSliceController(ctx: ClusterContext, informers: ClusterInformers, logger: Logger): () => Promise<void> {
  const discovery = ctx.kubeConfig.makeApiClient(DiscoveryV1Api);
  return async () => {
    const pods = informers.pods.list();
    const existing = new Map<string, V1EndpointSlice>();
    for (const s of informers.endpointSlices.list()) {
      if (s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) existing.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    }
    const wanted = new Set<string>();
    for (const svc of informers.services.list()) {
      if (svc.metadata?.deletionTimestamp) continue;
      for (const slice of computeEndpointSlices(svc, pods)) {
        const namespace = slice.metadata!.namespace!;
        const name = slice.metadata!.name!;
        const key = `${namespace}/${name}`;
        wanted.add(key);
        const have = existing.get(key);
        if (!have) {
          try {
            await discovery.createNamespacedEndpointSlice({ namespace, body: slice });
            logger.debug({ slice: key, endpoints: slice.endpoints?.length ?? 0 }, 'endpointslice created');
          } catch (err) {
            if (!isConflict(err)) throw err; // already there: the cache lags, next pass compares
          }
        } else if (sliceContent(have) !== sliceContent(slice)) {
          // Unconditional replace: we are the only writer of slices we manage.
          const body = { ...slice, metadata: { ...slice.metadata, resourceVersion: undefined } };
          try {
            await discovery.replaceNamespacedEndpointSlice({ name, namespace, body });
            logger.debug({ slice: key, endpoints: slice.endpoints?.length ?? 0 }, 'endpointslice updated');
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
      }
    }
    for (const [key, s] of existing) {
      if (wanted.has(key)) continue;
      // A slice whose Service is gone is garbage-collected through its ownerReference; one
      // whose Service still exists but now wants a different split is ours to remove.
      const svcName = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (svcName && !informers.services.get(svcName, s.metadata!.namespace)) continue;
      try {
        await discovery.deleteNamespacedEndpointSlice({ name: s.metadata!.name!, namespace: s.metadata!.namespace! });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  };
}
