// BackendTrafficPolicy (mesh.ambient.dev/v1alpha1) → retry budget configs, one per targeted
// Service. The control plane delivers the object as a WaypointConfig extension; its spec is
// checked by the shared parser (`@ambient/api/mesh-policy`, the one istiod-lite writes the
// object's status from). A policy with any bad field is ignored as a whole (its services keep
// the defaults) and named in `problems` with the field path and the value: a half-applied policy
// would be harder to reason about than none, and invalid config must never take the waypoint down.
import type { Extension } from '@ambient/api';
import { parseBackendTrafficPolicy, type RetryBudgetConfig } from '@ambient/api/mesh-policy';
import { meshPolicies, type PolicyProblem } from './mesh-policies.ts';

export { defaultRetryBudgetConfig, type RetryBudgetConfig } from '@ambient/api/mesh-policy';
export type { PolicyProblem } from './mesh-policies.ts';

export const backendTrafficPolicyKind = 'BackendTrafficPolicy';

export interface BackendTrafficPolicies {
  /** Service hostname (`<name>.<namespace>.svc.<domain>`) → its retry budget config. */
  budgets: Map<string, RetryBudgetConfig>;
  problems: PolicyProblem[];
}

/**
 * The retry budgets the BackendTrafficPolicies among `extensions` configure (other extensions
 * are not ours and are skipped). Two valid policies targeting the same Service: the first by
 * "<namespace>/<name>" wins (Gateway API breaks ties alphabetically; the creation time it
 * compares first is not on the wire) and the other is reported for that Service.
 */
export function backendTrafficPolicies(extensions: readonly Extension[], clusterDomain = 'cluster.local'): BackendTrafficPolicies {
  const budgets = new Map<string, RetryBudgetConfig>();
  const owners = new Map<string, string>();
  const { policies, problems } = meshPolicies(
    extensions,
    backendTrafficPolicyKind,
    parseBackendTrafficPolicy,
    'policy ignored, its services keep the default retry budget',
  );
  const byName = policies.map((p) => ({ ...p, key: `${p.namespace}/${p.name}` })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { namespace, key, spec } of byName) {
    for (const service of spec.services) {
      const hostname = `${service}.${namespace}.svc.${clusterDomain}`;
      const owner = owners.get(hostname);
      if (owner !== undefined) {
        problems.push({ name: key, message: `service ${hostname} already has a retry budget from ${owner}; this policy does not apply to it` });
        continue;
      }
      owners.set(hostname, key);
      budgets.set(hostname, spec.retryBudget);
    }
  }
  return { budgets, problems };
}
