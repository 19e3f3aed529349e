// BackendTrafficPolicy (mesh.ambient.dev/v1alpha1) → retry budget configs, one per targeted
// Service. The control plane delivers the object as a WaypointConfig extension; its spec is
// checked by the shared parser (`@ambient/api/mesh-policy`, the one istiod-lite writes the
// object's status from). A policy with any bad field is ignored as a whole (its services keep
// the defaults) and named in `problems` with the field path and the value: a half-applied policy
// would be harder to reason about than none, and invalid config must never take the waypoint down.
import type { Extension } from '@ambient/api';
import {
  InvalidPolicyField,
  meshPolicyApiVersion,
  parseBackendTrafficPolicy,
  type BackendTrafficPolicySpec,
  type RetryBudgetConfig,
  show,
} from '@ambient/api/mesh-policy';

export { defaultRetryBudgetConfig, type RetryBudgetConfig } from '@ambient/api/mesh-policy';

export const backendTrafficPolicyKind = 'BackendTrafficPolicy';

export interface PolicyProblem {
  /** "<namespace>/<name>" of the policy. */
  name: string;
  message: string;
}

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
  const problems: PolicyProblem[] = [];
  const policies = extensions
    .filter((e) => e.apiVersion === meshPolicyApiVersion && e.kind === backendTrafficPolicyKind)
    .map((e) => ({ ext: e, name: `${e.namespace}/${e.name}` }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { ext, name } of policies) {
    let parsed: BackendTrafficPolicySpec;
    try {
      parsed = parseBackendTrafficPolicy(parseSpecJson(ext.specJson));
    } catch (err) {
      if (!(err instanceof InvalidPolicyField)) throw err;
      problems.push({ name, message: `${err.message}; policy ignored, its services keep the default retry budget` });
      continue;
    }
    for (const service of parsed.services) {
      const hostname = `${service}.${ext.namespace}.svc.${clusterDomain}`;
      const owner = owners.get(hostname);
      if (owner !== undefined) {
        problems.push({ name, message: `service ${hostname} already has a retry budget from ${owner}; this policy does not apply to it` });
        continue;
      }
      owners.set(hostname, name);
      budgets.set(hostname, parsed.retryBudget);
    }
  }
  return { budgets, problems };
}

/** An extension's `specJson`, parsed; malformed JSON is an invalid `spec`. */
export function parseSpecJson(specJson: string | undefined): unknown {
  try {
    return JSON.parse(specJson ?? '');
  } catch {
    throw new InvalidPolicyField('spec', `${specJson === undefined ? 'missing' : show(specJson)}: not JSON`);
  }
}
