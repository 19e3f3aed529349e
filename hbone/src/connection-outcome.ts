// How a proxied connection ended, named once. Every layer speaks this vocabulary: the HBONE
// server answers with the row's status and counts refusals by its outcome, the pool raises an
// HboneError with the row's code, and the proxies' access log line and Istio metrics carry the
// outcome and its response flag. A new way for a connection to end is a new row here, never a
// new string somewhere else.
//
// response_flags are the values Istio's ztunnel reports (ResponseFlags in istio/ztunnel's
// proxy/metrics.rs): '-' for none, 'DENY' for an authorization policy denial, 'CONNECT' for a
// connection that could not be established. Istio's ztunnel has no finer flags (Envoy's UF, UH,
// NR, UT, DC are its waypoints' vocabulary), so dashboards built for it keep working; the
// outcome itself carries the detail.

/** One row: the HTTP status on the wire (when the outcome has one), the flag, the error code. */
export interface OutcomeRow {
  /** The CONNECT response status; undefined when the outcome happens outside an HTTP exchange. */
  readonly status: number | undefined;
  readonly responseFlags: '-' | 'DENY' | 'CONNECT';
  /** The HboneError code a client raises for it; undefined when no HBONE client ever sees it. */
  readonly errorCode: string | undefined;
  /** For the README and the access log's readers. */
  readonly meaning: string;
}

export const connectionOutcomes = {
  // Relayed: the stream was answered 200 and the bytes flowed until both sides ended.
  ok: { status: 200, responseFlags: '-', errorCode: undefined, meaning: 'relayed until both sides ended' },
  reset: { status: 200, responseFlags: '-', errorCode: undefined, meaning: 'relayed, then a side reset, failed or buffered over the cap' },
  policy_closed: { status: 200, responseFlags: 'DENY', errorCode: undefined, meaning: 'relayed, then closed because a policy change denies it' },

  // Refused by the HBONE server, answered with a status (the client raises the error code).
  not_connect: { status: 400, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_BAD_REQUEST', meaning: 'the request is not a CONNECT' },
  bad_authority: { status: 400, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_BAD_REQUEST', meaning: 'the :authority is not an ip:port' },
  unknown_destination: { status: 400, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_BAD_REQUEST', meaning: 'the destination is not a local workload' },
  own_port: {
    status: 400,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_BAD_REQUEST',
    meaning: "the target port is one of ztunnel's own (15001, 15006, 15008, 15000, 15020, 15021): forwarding it would loop",
  },
  denied: { status: 401, responseFlags: 'DENY', errorCode: 'ERR_HBONE_DENIED', meaning: 'an authorization policy denies it' },
  unavailable: {
    status: 503,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_UNAVAILABLE',
    meaning: 'the destination app is unreachable (or authorization failed)',
  },
  // Overload, not a fault of the app: a 503 like `unavailable` (the client raises the same
  // error), its own row so the refusal metric and the operator see which limit was hit.
  pod_connection_limit: {
    status: 503,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_UNAVAILABLE',
    meaning: "the pod already has as many concurrent connections in this direction as ztunnel's per-pod cap allows",
  },
  client_gone: { status: 499, responseFlags: 'CONNECT', errorCode: undefined, meaning: 'the client went away before the upstream connected' },
  bad_status: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_STATUS', meaning: 'the CONNECT was answered with another non-200 status' },

  // Refused by the HBONE server before any HTTP/2 exchange (the client sees a failed connection).
  tls_handshake: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_CONNECT',
    meaning: 'the TLS handshake failed (e.g. no client certificate)',
  },
  no_certificate: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_CONNECT',
    meaning: 'the server has no valid certificate to present (not issued yet, or expired without a refresh)',
  },
  handshake_timeout: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_CONNECT', meaning: 'no TLS handshake in time' },
  tls_version: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_CONNECT', meaning: 'TLS older than 1.3 was negotiated' },
  no_h2: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_NO_H2', meaning: 'ALPN did not settle on h2' },
  untrusted_chain: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_UNTRUSTED_PEER',
    meaning: 'the peer chain does not lead to the mesh root',
  },
  bad_identity: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_UNTRUSTED_PEER',
    meaning: 'the client certificate is not one workload SPIFFE ID',
  },
  foreign_trust_domain: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_UNTRUSTED_PEER',
    meaning: 'the client is in another trust domain',
  },
  stream_refused: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_STREAM_REFUSED',
    meaning: 'the stream was reset before a response (e.g. over the stream cap)',
  },

  // Failed in the HBONE client (pool).
  connect_failed: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_CONNECT', meaning: 'TCP or TLS to the upstream failed' },
  identity_mismatch: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: 'ERR_HBONE_IDENTITY_MISMATCH',
    meaning: 'the peer SPIFFE ID is not one we expected',
  },
  bad_address: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_BAD_ADDRESS', meaning: 'the destination is not an ip and port' },
  pool_closed: { status: undefined, responseFlags: 'CONNECT', errorCode: 'ERR_HBONE_POOL_CLOSED', meaning: 'the pool is closed (ztunnel stopping)' },

  // Refused by a proxy before any upstream was tried.
  no_original_destination: { status: undefined, responseFlags: 'CONNECT', errorCode: undefined, meaning: 'the captured socket has no original destination' },
  unknown_source: { status: undefined, responseFlags: 'CONNECT', errorCode: undefined, meaning: 'the source pod is not a known workload yet' },
  no_route: {
    status: undefined,
    responseFlags: 'CONNECT',
    errorCode: undefined,
    meaning: 'no route: no healthy endpoint, no such port, or plaintext to a mesh workload',
  },
} as const satisfies Record<string, OutcomeRow>;

export type ConnectionOutcome = keyof typeof connectionOutcomes;

/** The outcomes an HBONE client raises, i.e. the rows with an error code. */
export type HboneOutcome = { [K in ConnectionOutcome]: (typeof connectionOutcomes)[K]['errorCode'] extends string ? K : never }[ConnectionOutcome];

export type HboneErrorCode = (typeof connectionOutcomes)[HboneOutcome]['errorCode'];

/** The outcomes the HBONE server answers with a 4xx/5xx status (what `authorize` may return). */
export type RefusalStatusOutcome = 'not_connect' | 'bad_authority' | 'unknown_destination' | 'own_port' | 'denied' | 'unavailable' | 'pod_connection_limit';

export function outcomeRow(outcome: ConnectionOutcome): OutcomeRow {
  return connectionOutcomes[outcome];
}

// The client's view of a status: several rows share one (400 has three causes), but they all
// carry the same error code, which a test pins.
const OUTCOME_BY_STATUS: ReadonlyMap<number, HboneOutcome> = new Map(
  (['not_connect', 'denied', 'unavailable'] as const).map((o) => [connectionOutcomes[o].status, o]),
);

/** What a client makes of a CONNECT answered with a non-200 `status`. */
export function outcomeForStatus(status: number): HboneOutcome {
  return OUTCOME_BY_STATUS.get(status) ?? 'bad_status';
}
