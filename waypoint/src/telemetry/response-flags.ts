// The response flags the waypoint reports, named once. They are Envoy's (%RESPONSE_FLAGS% in its
// access log, the response_flags label of Istio's metrics), so the dashboards, alerts and
// habits built on Istio's Envoy waypoint keep working: `503 UH` reads the same here. Every layer
// that ends a request locally (router, balancer, breaker, retry, timeout, rate limit, fault
// injection) picks its row here; a new way for a request to end is a new row, never a new string
// elsewhere.
//
// Rows follow Envoy's flag order (its ResponseFlag enum), which is the order Envoy joins several
// flags in ('UF,URX'), so a combination always prints the same way.
//
// An L7 authorization denial has no flag: Envoy's RBAC filter answers 403 with response flags
// '-' and response_code_details `rbac_access_denied_matched_policy[<policy id>]` (`[none]` when an
// ALLOW policy exists and none matched). The waypoint does the same (see rbacAccessDenied).

export interface ResponseFlagRow {
  /** Envoy's long name, for readers who grep Envoy's documentation. */
  readonly envoyName: string;
  readonly meaning: string;
  /** The status the client usually sees with it; undefined when any status can go with it. */
  readonly status: number | undefined;
}

export const responseFlags = {
  '-': { envoyName: '(none)', meaning: 'no flag: the upstream answered, or a local reply without a flag (an L7 authorization denial)', status: undefined },
  UH: { envoyName: 'NoHealthyUpstream', meaning: 'no healthy endpoint for the backend (none ready, or all ejected by outlier detection)', status: 503 },
  UT: { envoyName: 'UpstreamRequestTimeout', meaning: 'the route timeout (or the per-attempt backend timeout) expired', status: 504 },
  LR: { envoyName: 'LocalReset', meaning: 'the waypoint reset the stream itself (e.g. stopping)', status: 503 },
  UR: { envoyName: 'UpstreamRemoteReset', meaning: 'the upstream reset the stream before a complete response', status: 503 },
  UF: { envoyName: 'UpstreamConnectionFailure', meaning: 'the connection to the upstream could not be established', status: 503 },
  UC: { envoyName: 'UpstreamConnectionTermination', meaning: 'the upstream connection closed before a complete response', status: 503 },
  UO: {
    envoyName: 'UpstreamOverflow',
    meaning: 'circuit breaking: a DestinationRule connectionPool limit (connections, pending or concurrent requests) was full',
    status: 503,
  },
  NR: { envoyName: 'NoRouteFound', meaning: 'no route matched the request (no rule of any HTTPRoute/GRPCRoute, unknown service)', status: 404 },
  DI: { envoyName: 'DelayInjected', meaning: 'fault injection delayed the request (the status is whatever came after)', status: undefined },
  FI: { envoyName: 'FaultInjected', meaning: 'fault injection aborted the request with its configured status', status: undefined },
  RL: { envoyName: 'RateLimited', meaning: 'a rate limit refused the request', status: 429 },
  RLSE: { envoyName: 'RateLimitServiceError', meaning: 'the shared rate limit store (Redis) could not be asked and the policy fails closed', status: 500 },
  DC: {
    envoyName: 'DownstreamConnectionTermination',
    meaning: 'the client went away before the response was complete (status 0: none had started)',
    status: 0,
  },
  URX: {
    envoyName: 'UpstreamRetryLimitExceeded',
    meaning: 'retries were made and the attempts limit was reached; joined to the last attempt’s flag (UF,URX)',
    status: undefined,
  },
  DPE: { envoyName: 'DownstreamProtocolError', meaning: 'the client’s request broke the HTTP protocol', status: 400 },
  UPE: { envoyName: 'UpstreamProtocolError', meaning: 'the upstream’s response broke the HTTP protocol', status: 502 },
} as const satisfies Record<string, ResponseFlagRow>;

export type ResponseFlag = keyof typeof responseFlags;

const ORDER: ReadonlyMap<string, number> = new Map(Object.keys(responseFlags).map((flag, i) => [flag, i]));

/** No flag: the common case, shared so the hot path allocates no array. */
export const NO_FLAGS: readonly ResponseFlag[] = Object.freeze([]);

/** The flags as Envoy prints them: '-' for none, else comma-joined in Envoy's order. */
export function formatResponseFlags(flags: readonly ResponseFlag[]): string {
  if (flags.length === 0) return '-';
  if (flags.length === 1) return flags[0]!;
  const set = flags.filter((f, i) => f !== '-' && flags.indexOf(f) === i);
  if (set.length === 0) return '-';
  return set.sort((a, b) => ORDER.get(a)! - ORDER.get(b)!).join(',');
}

/** Who denied: the L7 authorization policy and the rule that matched, or none for an ALLOW miss. */
export interface DenyingPolicy {
  namespace: string;
  name: string;
  /** Index of the matching rule in a DENY policy. */
  rule?: number | undefined;
}

/**
 * The response_code_details of an L7 authorization denial, as Istio's Envoy writes it:
 * `rbac_access_denied_matched_policy[ns[<ns>]-policy[<name>]-rule[<i>]]`, or `[none]` when ALLOW
 * policies exist and none matched.
 */
export function rbacAccessDenied(policy: DenyingPolicy | undefined): string {
  if (policy === undefined) return 'rbac_access_denied_matched_policy[none]';
  const rule = policy.rule !== undefined ? `-rule[${policy.rule}]` : '';
  return `rbac_access_denied_matched_policy[ns[${policy.namespace}]-policy[${policy.name}]${rule}]`;
}
