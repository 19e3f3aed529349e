// Whether an AuthorizationPolicy rule lets a given peer identity through, judged on the source
// conditions alone (from.source and when source.*). Three-valued: a condition on the peer's IP
// cannot be judged from manifests, and the rules report only what is certain.
import type { Manifest } from './finding.ts';
import { listOf, stringOf, stringsOf } from './kube-fields.ts';
import { trustDomain } from '../install-defaults.ts';

export type Verdict = 'yes' | 'no' | 'unknown';

export interface PeerIdentity {
  namespace: string;
  serviceAccount: string;
}

/** Ports and destination conditions do not depend on who connects: they are not judged here. */
export function ruleAdmits(rule: Manifest, peer: PeerIdentity, policyNamespace: string): Verdict {
  const sources = listOf(rule?.from);
  const fromVerdict = sources.length === 0 ? 'yes' : anyOf(sources.map((f) => sourceAdmits(f?.source, peer, policyNamespace)));
  return allOf([fromVerdict, ...listOf(rule?.when).map((w) => whenAdmits(w, peer))]);
}

/** The identities a rule names positively, for messages: ["principals a, b", "namespaces c"]. */
export function namedSources(rules: readonly Manifest[]): string[] {
  const principals = new Set<string>();
  const namespaces = new Set<string>();
  for (const rule of rules) {
    for (const f of listOf(rule?.from)) {
      for (const p of stringsOf(f?.source?.principals)) principals.add(p);
      for (const sa of stringsOf(f?.source?.serviceAccounts)) principals.add(`serviceAccount ${sa}`);
      for (const n of stringsOf(f?.source?.namespaces)) namespaces.add(n);
    }
    for (const w of listOf(rule?.when)) {
      if (w?.key === 'source.principal') for (const p of stringsOf(w.values)) principals.add(p);
      if (w?.key === 'source.namespace') for (const n of stringsOf(w.values)) namespaces.add(n);
    }
  }
  const out: string[] = [];
  if (principals.size > 0) out.push(`principals ${[...principals].join(', ')}`);
  if (namespaces.size > 0) out.push(`namespaces ${[...namespaces].join(', ')}`);
  return out;
}

/** Fields of one source are ANDed; an empty source is invalid in Istio, so not judged. */
function sourceAdmits(src: Manifest, peer: PeerIdentity, policyNamespace: string): Verdict {
  if (typeof src !== 'object' || src === null) return 'unknown';
  const checks: Verdict[] = [];
  const principals = stringsOf(src.principals);
  const accounts = stringsOf(src.serviceAccounts);
  if (principals.length > 0 || accounts.length > 0) {
    checks.push(verdict(principals.some((p) => principalMatches(p, peer)) || accounts.some((a) => accountMatches(a, peer, policyNamespace))));
  }
  const notPrincipals = stringsOf(src.notPrincipals);
  const notAccounts = stringsOf(src.notServiceAccounts);
  if (notPrincipals.length > 0 || notAccounts.length > 0) {
    checks.push(verdict(!notPrincipals.some((p) => principalMatches(p, peer)) && !notAccounts.some((a) => accountMatches(a, peer, policyNamespace))));
  }
  const namespaces = stringsOf(src.namespaces);
  if (namespaces.length > 0) checks.push(verdict(namespaces.some((n) => stringMatches(n, peer.namespace))));
  const notNamespaces = stringsOf(src.notNamespaces);
  if (notNamespaces.length > 0) checks.push(verdict(!notNamespaces.some((n) => stringMatches(n, peer.namespace))));
  if (listOf(src.ipBlocks).length > 0 || listOf(src.notIpBlocks).length > 0) checks.push('unknown');
  return checks.length === 0 ? 'unknown' : allOf(checks);
}

function whenAdmits(when: Manifest, peer: PeerIdentity): Verdict {
  const key = stringOf(when?.key);
  const values = stringsOf(when?.values);
  const notValues = stringsOf(when?.notValues);
  const test =
    key === 'source.principal'
      ? (v: string) => principalMatches(v, peer)
      : key === 'source.namespace'
        ? (v: string) => stringMatches(v, peer.namespace)
        : undefined;
  if (key === 'source.ip') return 'unknown';
  if (test === undefined) return 'yes';
  const checks: Verdict[] = [];
  if (values.length > 0) checks.push(verdict(values.some(test)));
  if (notValues.length > 0) checks.push(verdict(!notValues.some(test)));
  return allOf(checks);
}

/**
 * Principals are "<trust domain>/ns/<ns>/sa/<sa>", optionally with "spiffe://". A literal trust
 * domain is not compared: Istio maps the mesh's aliases onto it, and the analyzer cannot know
 * them, so "td/ns/x/sa/y" admits the peer whatever its trust domain is called.
 */
export function principalMatches(pattern: string, peer: PeerIdentity): boolean {
  const p = pattern.startsWith('spiffe://') ? pattern.slice('spiffe://'.length) : pattern;
  const path = `/ns/${peer.namespace}/sa/${peer.serviceAccount}`;
  const literalDomain = /^[^*/]+(\/ns\/.*)$/.exec(p);
  return literalDomain ? stringMatches(literalDomain[1]!, path) : stringMatches(p, `${trustDomain}${path}`);
}

/** serviceAccounts entries are "sa" (in the policy's namespace) or "ns/sa". */
function accountMatches(entry: string, peer: PeerIdentity, policyNamespace: string): boolean {
  const [ns, sa] = entry.includes('/') ? entry.split('/', 2) : [policyNamespace, entry];
  return ns === peer.namespace && sa === peer.serviceAccount;
}

/** Istio's string match: "*" any non-empty value, "x*" prefix, "*x" suffix, else exact. */
export function stringMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return value !== '';
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

function verdict(ok: boolean): Verdict {
  return ok ? 'yes' : 'no';
}

export function anyOf(vs: readonly Verdict[]): Verdict {
  return vs.includes('yes') ? 'yes' : vs.includes('unknown') ? 'unknown' : 'no';
}

export function allOf(vs: readonly Verdict[]): Verdict {
  return vs.includes('no') ? 'no' : vs.includes('unknown') ? 'unknown' : 'yes';
}
