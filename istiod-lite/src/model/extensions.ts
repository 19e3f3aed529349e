// The project's own policy-attachment CRDs (mesh.ambient.dev: RateLimitPolicy,
// FaultInjectionPolicy, BackendTrafficPolicy) reach a waypoint as Extensions: kind, name and the
// spec as JSON, for the waypoint to interpret. istiod-lite does not validate them (the CRD
// schema does, at apply time) and writes no status for them.
import type { Extension } from '@ambient/api';
import type { KubeObject, Manifest } from './inputs.ts';
import { nameOf, namespaceOf } from './kube-object.ts';

export const meshApiVersion = 'mesh.ambient.dev/v1alpha1';

/**
 * The retry budget defaults of Gateway API's XBackendTrafficPolicy (Linkerd's): at most 20 % of
 * the requests of the last 10 s may be retries, and 10 retries per second are always allowed.
 */
export const retryBudgetDefaults = {
  budget: { percent: 20, interval: '10s' },
  minRetryRate: { count: 10, interval: '1s' },
} as const;

/**
 * The extensions in `namespaces` (the waypoint's own and those of the services bound to it: a
 * policy attaches to a Service from the Service's namespace), sorted by namespace/kind/name so
 * the config does not change with informer order.
 */
export function extensionsIn(extensions: readonly KubeObject[], namespaces: ReadonlySet<string>): Extension[] {
  return extensions
    .filter((e) => namespaces.has(namespaceOf(e)))
    .map((e) => ({
      apiVersion: e.apiVersion ?? '',
      kind: e.kind ?? '',
      namespace: namespaceOf(e),
      name: nameOf(e),
      specJson: JSON.stringify(withDefaults(e)),
    }))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}

/**
 * The spec as a Kubernetes API server would store it after applying the CRD's defaults: the
 * local cluster's API server validates but does not default, and a waypoint should see the same
 * values on both.
 */
function withDefaults(e: KubeObject): Manifest {
  const spec: Manifest = e.spec ?? {};
  if (e.kind !== 'BackendTrafficPolicy' || e.apiVersion !== meshApiVersion) return spec;
  const rc: Manifest = spec.retryConstraint;
  if (rc === null || typeof rc !== 'object') return spec;
  const budget: Manifest = rc.budget !== null && typeof rc.budget === 'object' ? rc.budget : {};
  const min: Manifest = rc.minRetryRate !== null && typeof rc.minRetryRate === 'object' ? rc.minRetryRate : {};
  return {
    ...spec,
    retryConstraint: {
      ...rc,
      budget: { ...retryBudgetDefaults.budget, ...budget },
      minRetryRate: { ...retryBudgetDefaults.minRetryRate, ...min },
    },
  };
}
