// Authenticates bearer ServiceAccount tokens with the Kubernetes TokenReview API, as Istio's
// CA and discovery server do. The review names the audiences the token must be for (the
// proxies project theirs for `istio-ca`), and the answer must confirm one of them: an API
// server that ignores spec.audiences only vouches for its own. A positive answer is cached
// briefly (never past the token's own expiry) so that every RPC of a proxy does not cost an
// API round trip; the price is that a token of a deleted pod keeps working for at most the
// cache TTL.
import { AuthenticationV1Api, type KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import { FlagError } from '@ambient/api';
import { UnauthenticatedError, type Authenticator, type Caller } from './caller.ts';

/** The audience Istio's proxies project their token for, and its CA accepts (TOKEN_AUDIENCES). */
export const defaultTokenAudiences: readonly string[] = ['istio-ca'];

/** `--token-audiences`: comma-separated, at least one. */
export function parseTokenAudiences(flag: string, value: string): string[] {
  const audiences = value
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (audiences.length === 0) throw new FlagError(`--${flag} needs at least one audience, got '${value}'`);
  return audiences;
}

export interface TokenReviewAuthenticatorOptions {
  /**
   * Audiences the token must be for: sent as TokenReview spec.audiences, and one of them must
   * come back in status.audiences. Default (tools and tests): none sent, so the API server
   * checks its own. istiod-lite passes --token-audiences (default istio-ca).
   */
  audiences?: readonly string[];
  /** How long a positive review is reused, ms (default 10 s; 0 disables caching). */
  cacheTtlMs?: number;
  /** Most cached tokens; the oldest is dropped first (default 10 000). */
  maxCacheEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const SA_PREFIX = 'system:serviceaccount:';
const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
// Kubernetes names, checked because they end up inside SPIFFE IDs and log lines.
const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

interface CacheEntry {
  caller: Caller;
  expiresAt: number;
}

export class TokenReviewAuthenticator implements Authenticator {
  readonly #api: AuthenticationV1Api;
  readonly #audiences: readonly string[] | undefined;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  // Concurrent RPCs with the same token share one review.
  readonly #inFlight = new Map<string, Promise<Caller>>();

  constructor(kc: KubeConfig, opts: TokenReviewAuthenticatorOptions = {}) {
    this.#api = kc.makeApiClient(AuthenticationV1Api);
    this.#audiences = opts.audiences !== undefined && opts.audiences.length > 0 ? [...opts.audiences] : undefined;
    this.#ttlMs = opts.cacheTtlMs ?? 10_000;
    this.#maxEntries = Math.max(1, opts.maxCacheEntries ?? 10_000);
    this.#now = opts.now ?? Date.now;
  }

  authenticate(token: string): Promise<Caller> {
    if (typeof token !== 'string' || token.trim() === '') return Promise.reject(new UnauthenticatedError('missing bearer token'));
    const now = this.#now();
    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt > now) return Promise.resolve({ ...cached.caller });
      this.#cache.delete(token);
    }
    let pending = this.#inFlight.get(token);
    if (pending === undefined) {
      pending = this.#review(token).finally(() => this.#inFlight.delete(token));
      this.#inFlight.set(token, pending);
    }
    return pending.then((caller) => ({ ...caller }));
  }

  /** Forgets every cached review (e.g. after the API server's signing key changed). */
  clearCache(): void {
    this.#cache.clear();
  }

  async #review(token: string): Promise<Caller> {
    const body: V1TokenReview = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } };
    if (this.#audiences !== undefined) body.spec.audiences = [...this.#audiences];
    // Transport and API errors propagate as they are: they say nothing about the token, and
    // the caller maps them to "unavailable", not to "unauthenticated".
    const review = await this.#api.createTokenReview({ body });
    const caller = callerFromReview(review, this.#audiences);
    this.#remember(token, caller);
    return caller;
  }

  #remember(token: string, caller: Caller): void {
    if (this.#ttlMs <= 0) return;
    const now = this.#now();
    const exp = tokenExpiry(token);
    const expiresAt = Math.min(now + this.#ttlMs, exp ?? Infinity);
    if (expiresAt <= now) return;
    while (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
    this.#cache.set(token, { caller, expiresAt });
  }
}

/**
 * The caller a TokenReview vouches for; throws UnauthenticatedError saying why not. With
 * `audiences` (what the review asked for), status.audiences must contain one of them.
 */
export function callerFromReview(review: V1TokenReview, audiences?: readonly string[]): Caller {
  const status = review.status;
  if (status?.authenticated !== true) {
    const error = status?.error || 'not authenticated';
    // The usual cause is a token projected for another audience: say which ones are accepted.
    const hint = audiences !== undefined && /audience/i.test(error) ? ` (istiod-lite accepts tokens for ${quoted(audiences)}: --token-audiences)` : '';
    throw new UnauthenticatedError(`token rejected: ${error}${hint}`);
  }
  if (audiences !== undefined) {
    const confirmed = status.audiences ?? [];
    if (!confirmed.some((a) => audiences.includes(a))) {
      // An empty list means an API server that ignored spec.audiences: it vouched for its own.
      throw new UnauthenticatedError(
        `token is not for audience ${quoted(audiences)}: the TokenReview confirmed ${quoted(confirmed)}${confirmed.length === 0 ? ' (an API server that does not check audiences)' : ''}`,
      );
    }
  }
  const username = status.user?.username ?? '';
  if (!username.startsWith(SA_PREFIX)) throw new UnauthenticatedError(`token of ${JSON.stringify(username)} is not a service account`);
  const parts = username.slice(SA_PREFIX.length).split(':');
  const [namespace, serviceAccount] = parts;
  if (parts.length !== 2 || !NAME_RE.test(namespace ?? '') || !NAME_RE.test(serviceAccount ?? '')) {
    throw new UnauthenticatedError(`token of ${JSON.stringify(username)} is not a service account`);
  }
  const extra = status.user?.extra ?? {};
  const caller: Caller = { username, namespace: namespace!, serviceAccount: serviceAccount! };
  const podName = single(extra[EXTRA_POD_NAME]);
  const podUid = single(extra[EXTRA_POD_UID]);
  const nodeName = single(extra[EXTRA_NODE_NAME]);
  if (podName !== undefined) caller.podName = podName;
  if (podUid !== undefined) caller.podUid = podUid;
  if (nodeName !== undefined) caller.nodeName = nodeName;
  return caller;
}

function quoted(list: readonly string[]): string {
  return `[${list.map((a) => JSON.stringify(a)).join(', ')}]`;
}

function single(values: string[] | undefined): string | undefined {
  // Several values for a pod or node would be ambiguous; treat that as absent.
  return values !== undefined && values.length === 1 && values[0] !== '' ? values[0] : undefined;
}

/**
 * The `exp` claim of a JWT, read without verifying it: it only ever shortens how long a
 * review the API server already approved is reused.
 */
function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
