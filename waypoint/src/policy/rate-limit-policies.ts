// RateLimitPolicy (mesh.ambient.dev/v1alpha1) extensions of a WaypointConfig → the policies the
// RateLimiter enforces. Each spec is checked by the shared parser (the one istiod-lite writes the
// object's status from); a policy with any bad field is left out whole and named in `problems`
// with the field path and value: half a rate limit policy would be harder to reason about than
// none, and invalid config must never take the waypoint down.
import type { Extension } from '@ambient/api';
import { InvalidPolicyField, meshPolicyApiVersion, parseRateLimitPolicy } from '@ambient/api/mesh-policy';
import { type PolicyProblem, parseSpecJson } from './backend-traffic-policy.ts';
import type { RateLimitPolicyInput } from './rate-limiter.ts';

export const rateLimitPolicyKind = 'RateLimitPolicy';

export function rateLimitPolicies(extensions: readonly Extension[]): { policies: RateLimitPolicyInput[]; problems: PolicyProblem[] } {
  const policies: RateLimitPolicyInput[] = [];
  const problems: PolicyProblem[] = [];
  for (const e of extensions) {
    if (e.apiVersion !== meshPolicyApiVersion || e.kind !== rateLimitPolicyKind) continue;
    try {
      policies.push({ namespace: e.namespace, name: e.name, spec: parseRateLimitPolicy(parseSpecJson(e.specJson)) });
    } catch (err) {
      if (!(err instanceof InvalidPolicyField)) throw err;
      problems.push({ name: `${e.namespace}/${e.name}`, message: `${err.message}; policy ignored, its limits do not apply` });
    }
  }
  return { policies, problems };
}
