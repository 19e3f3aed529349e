// L7 policies applied to a connection the waypoint relays as plain TCP (no HTTP to read), as
// Istio does for TCP traffic: HTTP-only fields (hosts, methods, paths, headers, request
// principals) cannot be evaluated, so a DENY ignores them (it denies more) and an ALLOW match
// that needs them never matches (it allows less). Never the other way round.
import type { L7Authorization, L7Match } from '@ambient/api';
import type { SourceFacts } from '../http/request-facts.ts';
import { authorizeRequest, type L7Decision } from './authorization.ts';

const httpOnly = [
  'hosts',
  'notHosts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
  'requestPrincipals',
  'notRequestPrincipals',
  'headers',
  'notHeaders',
] as const;

const needsHttp = (m: L7Match): boolean => httpOnly.some((f) => (m[f]?.length ?? 0) > 0);

function withoutHttp(m: L7Match): L7Match {
  const out: L7Match = { ...m };
  for (const f of httpOnly) delete out[f];
  return out;
}

// Policies are immutable config snapshots: the TCP view of one list is computed once.
const tcpViews = new WeakMap<readonly L7Authorization[], L7Authorization[]>();

export function tcpPolicies(policies: readonly L7Authorization[]): L7Authorization[] {
  let view = tcpViews.get(policies);
  if (view === undefined) {
    view = policies.map((p) => ({
      ...p,
      rules: (p.rules ?? []).map((r) => ({
        clauses: (r.clauses ?? []).map((c) => ({
          matches: p.action === 'DENY' ? (c.matches ?? []).map(withoutHttp) : (c.matches ?? []).filter((m) => !needsHttp(m)),
        })),
      })),
    }));
    tcpViews.set(policies, view);
  }
  return view;
}

export function authorizeConnection(
  policies: readonly L7Authorization[],
  target: { serviceHostname: string | undefined },
  port: number,
  src: SourceFacts,
): L7Decision {
  return authorizeRequest(tcpPolicies(policies), target, { method: '', path: '/', authority: '', headers: {}, port }, src);
}
