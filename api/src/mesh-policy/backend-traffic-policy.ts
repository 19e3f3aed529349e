// BackendTrafficPolicy (mesh.ambient.dev/v1alpha1), Gateway API's XBackendTrafficPolicy
// `retryConstraint` (GEP-3388 retry budgets), checked field by field:
//
//   spec:
//     targetRefs: [{ group: "", kind: Service, name: reviews }]   # 1–16, Services of the policy's namespace
//     retryConstraint:
//       budget: { percent: 20, interval: 10s }                    # percent 0–100, interval 1s–1h
//       minRetryRate: { count: 10, interval: 1s }                 # count ≥ 0, interval > 0 and ≤ 1h
import { parseTargetRefs } from './policy-target.ts';
import { duration, HOUR_MS, integer, object, optionalObject } from './spec-fields.ts';

export const meshPolicyApiVersion = 'mesh.ambient.dev/v1alpha1';

export interface RetryBudgetConfig {
  budget: {
    /** Retries allowed as a percentage of the requests over `intervalMs` (0–100). */
    percent: number;
    intervalMs: number;
  };
  /** Retries always allowed, whatever the traffic: `count` in any `intervalMs`. */
  minRetryRate: {
    count: number;
    intervalMs: number;
  };
}

/** Gateway API's defaults (`budget: {percent: 20, interval: 10s}`, `minRetryRate: {count: 10, interval: 1s}`), Linkerd's too. */
export const defaultRetryBudgetConfig: Readonly<RetryBudgetConfig> = Object.freeze({
  budget: Object.freeze({ percent: 20, intervalMs: 10_000 }),
  minRetryRate: Object.freeze({ count: 10, intervalMs: 1000 }),
});

export interface BackendTrafficPolicySpec {
  /** Service names in the policy's namespace. */
  services: string[];
  retryBudget: RetryBudgetConfig;
}

/** The spec, or an `InvalidPolicyField` naming the first bad field. */
export function parseBackendTrafficPolicy(spec: unknown): BackendTrafficPolicySpec {
  const s = object(spec, 'spec');
  const services = parseTargetRefs(s, ['Service']).map((t) => t.name);
  const constraint = optionalObject(s.retryConstraint, 'spec.retryConstraint');
  const budget = optionalObject(constraint?.budget, 'spec.retryConstraint.budget');
  const rate = optionalObject(constraint?.minRetryRate, 'spec.retryConstraint.minRetryRate');
  const d = defaultRetryBudgetConfig;
  return {
    services,
    retryBudget: {
      budget: {
        percent: integer(budget?.percent, 'spec.retryConstraint.budget.percent', 0, 100) ?? d.budget.percent,
        intervalMs: duration(budget?.interval, 'spec.retryConstraint.budget.interval', 1000, HOUR_MS) ?? d.budget.intervalMs,
      },
      minRetryRate: {
        count: integer(rate?.count, 'spec.retryConstraint.minRetryRate.count', 0, Number.MAX_SAFE_INTEGER) ?? d.minRetryRate.count,
        intervalMs: duration(rate?.interval, 'spec.retryConstraint.minRetryRate.interval', 1, HOUR_MS) ?? d.minRetryRate.intervalMs,
      },
    },
  };
}
