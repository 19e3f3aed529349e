// The project's own policies (mesh.ambient.dev/v1alpha1) among a WaypointConfig's extensions,
// each spec checked by the shared parser (`@ambient/api/mesh-policy`, the one istiod-lite writes
// the object's status from). A policy with a bad field is left out whole and named in `problems`
// with the field path and value: half a policy would be harder to reason about than none, and
// invalid config must never take the waypoint down.
import type { Extension } from '@ambient/api';
import { InvalidPolicyField, meshPolicyApiVersion, show } from '@ambient/api/mesh-policy';

export interface PolicyProblem {
  /** "<namespace>/<name>" of the policy. */
  name: string;
  message: string;
}

export interface ParsedPolicy<Spec> {
  namespace: string;
  name: string;
  spec: Spec;
}

/** The policies of `kind`, in extension order; `ignored` ends each problem's message (what leaving it out means). */
export function meshPolicies<Spec>(
  extensions: readonly Extension[],
  kind: string,
  parse: (spec: unknown) => Spec,
  ignored: string,
): { policies: ParsedPolicy<Spec>[]; problems: PolicyProblem[] } {
  const policies: ParsedPolicy<Spec>[] = [];
  const problems: PolicyProblem[] = [];
  for (const e of extensions) {
    if (e.apiVersion !== meshPolicyApiVersion || e.kind !== kind) continue;
    try {
      policies.push({ namespace: e.namespace, name: e.name, spec: parse(parseSpecJson(e.specJson)) });
    } catch (err) {
      if (!(err instanceof InvalidPolicyField)) throw err;
      problems.push({ name: `${e.namespace}/${e.name}`, message: `${err.message}; ${ignored}` });
    }
  }
  return { policies, problems };
}

/** An extension's `specJson`, parsed; malformed JSON is an invalid `spec`. */
export function parseSpecJson(specJson: string | undefined): unknown {
  try {
    return JSON.parse(specJson ?? '');
  } catch {
    throw new InvalidPolicyField('spec', `${specJson === undefined ? 'missing' : show(specJson)}: not JSON`);
  }
}
