// BackendTrafficPolicy (mesh.ambient.dev/v1alpha1) → retry budget configs, one per targeted
// Service. The control plane delivers the object untouched as a WaypointConfig extension; this
// is where it is checked, field by field, as Gateway API's XBackendTrafficPolicy defines it:
//
//   spec:
//     targetRefs: [{ group: "", kind: Service, name: reviews }]   # 1–16, Services of the policy's namespace
//     retryConstraint:
//       budget: { percent: 20, interval: 10s }                    # percent 0–100, interval 1s–1h
//       minRetryRate: { count: 10, interval: 1s }                 # count ≥ 0, interval > 0 and ≤ 1h
//
// A policy with any bad field is ignored as a whole (its services keep the defaults) and named
// in `problems` with the field path and the value: a half-applied policy would be harder to
// reason about than none, and invalid config must never take the waypoint down.
import type { Extension } from '@ambient/api';
import { defaultRetryBudgetConfig, type RetryBudgetConfig } from './retry-budget.ts';

export { defaultRetryBudgetConfig, type RetryBudgetConfig } from './retry-budget.ts';

export const backendTrafficPolicyApiVersion = 'mesh.ambient.dev/v1alpha1';
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

const MAX_TARGET_REFS = 16;
const HOUR_MS = 3_600_000;
/** A Service name: an RFC 1035 label, as Kubernetes requires. */
const serviceName = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

class InvalidField {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
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
    .filter((e) => e.apiVersion === backendTrafficPolicyApiVersion && e.kind === backendTrafficPolicyKind)
    .map((e) => ({ ext: e, name: `${e.namespace}/${e.name}` }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { ext, name } of policies) {
    let parsed: { services: string[]; config: RetryBudgetConfig };
    try {
      parsed = parseSpec(ext.specJson);
    } catch (err) {
      if (!(err instanceof InvalidField)) throw err;
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
      budgets.set(hostname, parsed.config);
    }
  }
  return { budgets, problems };
}

function parseSpec(specJson: string | undefined): { services: string[]; config: RetryBudgetConfig } {
  let spec: unknown;
  try {
    spec = JSON.parse(specJson ?? '');
  } catch {
    throw new InvalidField(`spec ${specJson === undefined ? 'missing' : JSON.stringify(truncate(specJson))}: not JSON`);
  }
  const s = object(spec, 'spec');
  const services = targetRefs(s.targetRefs);
  const constraint = optionalObject(s.retryConstraint, 'spec.retryConstraint');
  const budget = optionalObject(constraint?.budget, 'spec.retryConstraint.budget');
  const rate = optionalObject(constraint?.minRetryRate, 'spec.retryConstraint.minRetryRate');
  const d = defaultRetryBudgetConfig;
  const config: RetryBudgetConfig = {
    budget: {
      percent: integer(budget?.percent, 'spec.retryConstraint.budget.percent', 0, 100) ?? d.budget.percent,
      intervalMs: duration(budget?.interval, 'spec.retryConstraint.budget.interval', 1000, HOUR_MS) ?? d.budget.intervalMs,
    },
    minRetryRate: {
      count: integer(rate?.count, 'spec.retryConstraint.minRetryRate.count', 0, Number.MAX_SAFE_INTEGER) ?? d.minRetryRate.count,
      intervalMs: duration(rate?.interval, 'spec.retryConstraint.minRetryRate.interval', 1, HOUR_MS) ?? d.minRetryRate.intervalMs,
    },
  };
  return { services, config };
}

function targetRefs(v: unknown): string[] {
  const field = 'spec.targetRefs';
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_TARGET_REFS) {
    throw new InvalidField(`${field} ${show(v)}: expected a list of 1 to ${MAX_TARGET_REFS} references`);
  }
  return v.map((ref, i) => {
    const r = object(ref, `${field}[${i}]`);
    // The core group is "" in Gateway API references; an absent group means the same.
    if (r.group !== undefined && r.group !== '') throw new InvalidField(`${field}[${i}].group ${show(r.group)}: only Services (group "") can be targeted`);
    if (r.kind !== 'Service') throw new InvalidField(`${field}[${i}].kind ${show(r.kind)}: only Service can be targeted`);
    if (typeof r.name !== 'string' || !serviceName.test(r.name)) throw new InvalidField(`${field}[${i}].name ${show(r.name)}: not a Service name`);
    return r.name;
  });
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidField(`${field} ${show(v)}: expected an object`);
  return v as Record<string, unknown>;
}

function optionalObject(v: unknown, field: string): Record<string, unknown> | undefined {
  return v === undefined || v === null ? undefined : object(v, field);
}

function integer(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidField(`${field} ${show(v)}: expected an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}`);
  }
  return v;
}

function duration(v: unknown, field: string, minMs: number, maxMs: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const ms = parseGatewayDurationMs(v);
  if (ms === undefined) throw new InvalidField(`${field} ${show(v)}: not a Gateway API duration (like "10s", "500ms", "1m")`);
  if (ms < minMs || ms > maxMs) throw new InvalidField(`${field} ${show(v)}: expected from ${formatMs(minMs)} to ${formatMs(maxMs)}`);
  return ms;
}

const durationUnitMs: Record<string, number> = { h: HOUR_MS, m: 60_000, s: 1000, ms: 1 };
const durationShape = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const durationPart = /([0-9]{1,5})(ms|h|m|s)/g;

/** A Gateway API Duration (GEP-2257: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`, e.g. "1h30m", "500ms") in ms, or undefined. */
export function parseGatewayDurationMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || !durationShape.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(durationPart)) total += Number(m[1]) * durationUnitMs[m[2]!]!;
  return total;
}

function formatMs(ms: number): string {
  if (ms % HOUR_MS === 0) return `${ms / HOUR_MS}h`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function show(v: unknown): string {
  return v === undefined ? 'missing' : truncate(JSON.stringify(v) ?? String(v));
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
