// RateLimitPolicy (mesh.ambient.dev/v1alpha1) extensions of a WaypointConfig → the policies the
// RateLimiter enforces. Each spec is checked by the shared parser (the one istiod-lite writes the
// object's status from); a policy with any bad field is left out whole and named in `problems`
// with the field path and value: half a rate limit policy would be harder to reason about than
// none, and invalid config must never take the waypoint down.
import type { Extension } from '@ambient/api';
import { parseRateLimitPolicy } from '@ambient/api/mesh-policy';
import { meshPolicies, type PolicyProblem } from './mesh-policies.ts';
import type { RateLimitPolicyInput } from './rate-limiter.ts';

export const rateLimitPolicyKind = 'RateLimitPolicy';

export function rateLimitPolicies(extensions: readonly Extension[]): { policies: RateLimitPolicyInput[]; problems: PolicyProblem[] } {
  return meshPolicies(extensions, rateLimitPolicyKind, parseRateLimitPolicy, 'policy ignored, its limits do not apply');
}
