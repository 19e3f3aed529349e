// Fault injection: FaultInjectionPolicy (mesh.ambient.dev/v1alpha1, Istio's HTTPFaultInjection
// as a policy attachment) → the delay and/or abort one request gets. The decision is pure: the
// policies, where the request is going (the waypoint Gateway, the destination Service, the
// matched route) and its headers in, random draws injected.
//
// Which policy applies: those whose target is the request's route, Service or Gateway (a
// target with a sectionName only when the scope names the same section) and whose header
// match holds. Of these only one acts, the most specific: route > Service > Gateway (Gateway
// API GEP-713: the closer attachment wins), a sectionName target above a whole-object one of the
// same kind, then the first by "<namespace>/<name>" (GEP-713 breaks ties by creation time and
// then by name; the time is not on the wire). A policy whose headers do not match is not a
// candidate at all, so a route-level fault aimed at `x-chaos: on` leaves other requests to a
// Service- or Gateway-level one.
//
// As in Istio (Envoy's fault filter), delay and abort are drawn independently, the delay first:
// with delay 50% and abort 30%, 15% of the requests are delayed and then aborted. The caller
// waits `delayMs` (flag DI) and then answers the abort (flag FI) instead of forwarding.
import type { IncomingHttpHeaders } from 'node:http';
import type { Extension } from '@ambient/api';
import { type FaultHeaderMatch, type FaultInjectionPolicySpec, faultInjectionPolicyKind, parseFaultInjectionPolicy } from '@ambient/api/mesh-policy';
import { meshPolicies, type PolicyProblem } from './mesh-policies.ts';

export interface FaultPolicy {
  namespace: string;
  name: string;
  spec: FaultInjectionPolicySpec;
}

/** An object a request passes through; `sectionName` (listener, port or rule name) when known. */
export interface FaultScopeObject {
  namespace: string;
  name: string;
  sectionName?: string;
}

export interface FaultScope {
  /** The waypoint itself. */
  gateway: FaultScopeObject;
  /** The destination Service (sectionName: the port's name). */
  service?: FaultScopeObject;
  /** The HTTPRoute or GRPCRoute whose rule matched (sectionName: the rule's name). */
  route?: FaultScopeObject & { kind: 'HTTPRoute' | 'GRPCRoute' };
}

export type FaultAbortStatus = { readonly httpStatus: number } | { readonly grpcStatus: number };

/** Shared and frozen (one per policy and outcome): read it, do not change it. */
export interface FaultDecision {
  /** "<namespace>/<name>" of the policy that acted. */
  readonly policy: string;
  readonly delayMs?: number;
  readonly abort?: FaultAbortStatus;
}

interface CompiledPolicy {
  readonly key: string;
  readonly headers: readonly FaultHeaderMatch[];
  /** Percent chances, or -1 when the policy has no such fault. */
  readonly delayPercent: number;
  readonly abortPercent: number;
  // Every outcome built once, so that a decision costs no allocation.
  readonly delayed: FaultDecision | undefined;
  readonly aborted: FaultDecision | undefined;
  readonly both: FaultDecision | undefined;
}

interface Attachment {
  readonly policy: CompiledPolicy;
  readonly sectionName: string | undefined;
}

type TargetKind = 'Gateway' | 'Service' | 'HTTPRoute' | 'GRPCRoute';
/** namespace → object name → the policies attached to it, best first. */
type Index = Map<string, Map<string, Attachment[]>>;

/**
 * The policies indexed by target, so that a request looks up at most three short lists
 * (route, Service, Gateway) whatever the number of policies. `update()` swaps in a new index.
 */
export class FaultInjector {
  #byKind: ReadonlyMap<TargetKind, Index> = new Map();
  #size = 0;

  constructor(policies: readonly FaultPolicy[] = []) {
    this.update(policies);
  }

  /** Number of policies in force. */
  get size(): number {
    return this.#size;
  }

  update(policies: readonly FaultPolicy[]): void {
    const byKind = new Map<TargetKind, Index>();
    for (const p of policies) {
      const policy = compile(p);
      for (const t of p.spec.targets) {
        let index = byKind.get(t.kind);
        if (index === undefined) byKind.set(t.kind, (index = new Map()));
        let names = index.get(p.namespace);
        if (names === undefined) index.set(p.namespace, (names = new Map()));
        let list = names.get(t.name);
        if (list === undefined) names.set(t.name, (list = []));
        list.push({ policy, sectionName: t.sectionName });
      }
    }
    for (const index of byKind.values()) for (const names of index.values()) for (const list of names.values()) list.sort(better);
    this.#byKind = byKind;
    this.#size = policies.length;
  }

  /** The fault for one request, or undefined (no policy applies, or no draw hit). `random` is [0, 1). */
  faultFor(scope: FaultScope, headers: IncomingHttpHeaders, random: () => number): FaultDecision | undefined {
    if (this.#size === 0) return undefined;
    const policy =
      (scope.route !== undefined ? this.#find(scope.route.kind, scope.route, headers) : undefined) ??
      (scope.service !== undefined ? this.#find('Service', scope.service, headers) : undefined) ??
      this.#find('Gateway', scope.gateway, headers);
    if (policy === undefined) return undefined;
    // One draw per fault the policy has, delay first (independent, as Envoy's fault filter).
    const delayed = policy.delayPercent >= 0 && random() * 100 < policy.delayPercent;
    const aborted = policy.abortPercent >= 0 && random() * 100 < policy.abortPercent;
    return delayed ? (aborted ? policy.both : policy.delayed) : aborted ? policy.aborted : undefined;
  }

  #find(kind: TargetKind, object: FaultScopeObject, headers: IncomingHttpHeaders): CompiledPolicy | undefined {
    const list = this.#byKind.get(kind)?.get(object.namespace)?.get(object.name);
    if (list === undefined) return undefined;
    for (const a of list) {
      if (a.sectionName !== undefined && a.sectionName !== object.sectionName) continue;
      if (headersMatch(a.policy.headers, headers)) return a.policy;
    }
    return undefined;
  }
}

/** The fault for one request under `policies` (FaultInjector indexes them once for many requests). */
export function faultFor(policies: readonly FaultPolicy[], scope: FaultScope, headers: IncomingHttpHeaders, random: () => number): FaultDecision | undefined {
  return new FaultInjector(policies).faultFor(scope, headers, random);
}

export interface FaultInjectionPolicies {
  policies: FaultPolicy[];
  problems: PolicyProblem[];
}

/**
 * The FaultInjectionPolicies among a WaypointConfig's `extensions`, parsed with the shared parser
 * (the one istiod-lite writes their status from). A policy with a bad field is left out whole
 * and reported with the field and the value: a fault half-applied would be harder to reason
 * about than none, and bad config must never take the waypoint down.
 */
export function faultInjectionPolicies(extensions: readonly Extension[]): FaultInjectionPolicies {
  return meshPolicies(extensions, faultInjectionPolicyKind, parseFaultInjectionPolicy, 'policy ignored, no fault injected for it');
}

function compile(p: FaultPolicy): CompiledPolicy {
  const key = `${p.namespace}/${p.name}`;
  const { delay, abort } = p.spec;
  const status: FaultAbortStatus | undefined =
    abort === undefined ? undefined : Object.freeze(abort.grpcStatus !== undefined ? { grpcStatus: abort.grpcStatus } : { httpStatus: abort.httpStatus });
  return {
    key,
    headers: p.spec.headers,
    delayPercent: delay?.percent ?? -1,
    abortPercent: abort?.percent ?? -1,
    delayed: delay && Object.freeze({ policy: key, delayMs: delay.fixedDelayMs }),
    aborted: status && Object.freeze({ policy: key, abort: status }),
    both: delay && status && Object.freeze({ policy: key, delayMs: delay.fixedDelayMs, abort: status }),
  };
}

/** Section-specific attachments first, then by "<namespace>/<name>". */
function better(a: Attachment, b: Attachment): number {
  const sa = a.sectionName === undefined ? 1 : 0;
  const sb = b.sectionName === undefined ? 1 : 0;
  if (sa !== sb) return sa - sb;
  return a.policy.key < b.policy.key ? -1 : a.policy.key > b.policy.key ? 1 : 0;
}

/** Every match holds. A repeated header is matched as its values joined by "," (as Envoy sees it). */
function headersMatch(matches: readonly FaultHeaderMatch[], headers: IncomingHttpHeaders): boolean {
  for (const m of matches) {
    const v = headers[m.name];
    if (v === undefined) return false;
    const value = typeof v === 'string' ? v : v.join(',');
    if (m.type === 'Exact' ? value !== m.value : !m.regex.test(value)) return false;
  }
  return true;
}
