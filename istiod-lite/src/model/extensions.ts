// The project's own policy-attachment CRDs (mesh.ambient.dev: RateLimitPolicy,
// FaultInjectionPolicy, BackendTrafficPolicy) reach a waypoint as Extensions: kind, name and the
// spec as JSON, for the waypoint to enforce. istiod-lite checks each spec with the parser the
// waypoint uses (`@ambient/api/mesh-policy`) and writes the object's `Accepted` condition from
// it. An invalid spec is never delivered: a new object waits until it is fixed, and an object
// that was valid before keeps its last accepted spec in force (the condition says which
// generation), so a typo in an edit cannot silently lift a rate limit.
import type { Extension } from '@ambient/api';
import { InvalidPolicyField, meshPolicyApiVersion, parseBackendTrafficPolicy, parseFaultInjectionPolicy, parseRateLimitPolicy } from '@ambient/api/mesh-policy';
import type { KubeObject, Manifest } from './inputs.ts';
import { generationOf, nameOf, namespaceOf } from './kube-object.ts';
import { conditionStatusOf, type ObjectStatus } from './object-status.ts';

export const meshApiVersion = meshPolicyApiVersion;

/** The spec checkers by kind; a kind without one is delivered unchecked. */
const specCheckers: Readonly<Record<string, (spec: unknown) => unknown>> = {
  BackendTrafficPolicy: parseBackendTrafficPolicy,
  FaultInjectionPolicy: parseFaultInjectionPolicy,
  RateLimitPolicy: parseRateLimitPolicy,
};

export interface ExtensionCheck {
  /** What the waypoints get: valid objects, and the last accepted version of invalid ones. */
  delivered: KubeObject[];
  /** The accepted version of every object, by kind/namespace/name: the next check's `lastAccepted`. */
  accepted: Map<string, KubeObject>;
  statuses: ObjectStatus[];
}

const extensionKey = (o: KubeObject): string => `${o.kind ?? ''}/${namespaceOf(o)}/${nameOf(o)}`;

/**
 * Checks every mesh.ambient.dev policy. `lastAccepted` is the previous check's `accepted` (empty
 * at start): an invalid object falls back to it only when it is the same object (same uid), so
 * a deleted and recreated policy does not inherit its predecessor.
 */
export function checkExtensions(objects: readonly KubeObject[], lastAccepted: ReadonlyMap<string, KubeObject>): ExtensionCheck {
  const delivered: KubeObject[] = [];
  const accepted = new Map<string, KubeObject>();
  const statuses: ObjectStatus[] = [];
  for (const o of objects) {
    const check = o.apiVersion === meshPolicyApiVersion ? specCheckers[o.kind ?? ''] : undefined;
    if (check === undefined) {
      delivered.push(o);
      continue;
    }
    const status = conditionStatusOf(o, o.kind!, meshPolicyApiVersion, 'Accepted');
    const key = extensionKey(o);
    try {
      check(o.spec);
      delivered.push(o);
      accepted.set(key, o);
      statuses.push(status(true, 'Accepted', 'the policy is valid and applied'));
    } catch (err) {
      if (!(err instanceof InvalidPolicyField)) throw err;
      const previous = lastAccepted.get(key);
      if (previous !== undefined && previous.metadata?.uid === o.metadata?.uid) {
        delivered.push(previous);
        accepted.set(key, previous);
        const generation = generationOf(previous);
        statuses.push(
          status(false, 'Invalid', `${err.message}; the last accepted spec${generation === undefined ? '' : ` (generation ${generation})`} stays in force`),
        );
      } else {
        statuses.push(status(false, 'Invalid', `${err.message}; the policy is not applied`));
      }
    }
  }
  return { delivered, accepted, statuses };
}

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
