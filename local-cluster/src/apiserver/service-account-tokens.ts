// Bound ServiceAccount tokens: what `serviceaccounts/<sa>/token` issues and TokenReview
// checks. The claims follow Kubernetes' (including the node of a bound pod, as in ≥1.30),
// because the mesh CA relies on them to tell which node a caller runs on.
import { randomUUID, type KeyObject } from 'node:crypto';
import type { KubeObject } from '../apimachinery/types.ts';
import { signJwt, verifyJwt, type JwtClaims } from './jwt.ts';

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const API_AUDIENCES = [ISSUER];

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  kid: string;
}

interface Ref {
  name: string;
  uid: string;
}

interface KubernetesClaim {
  namespace: string;
  serviceaccount: Ref;
  pod?: Ref;
  node?: Ref;
}

export function issueToken(opts: {
  key: SigningKey;
  serviceAccount: KubeObject;
  pod?: KubeObject;
  node?: { name: string; uid: string };
  audiences: string[];
  expirationSeconds: number;
  now: Date;
}): { token: string; expirationTimestamp: string } {
  const iat = Math.floor(opts.now.getTime() / 1000);
  const exp = iat + opts.expirationSeconds;
  const sa = opts.serviceAccount.metadata;
  const k8s: KubernetesClaim = { namespace: sa.namespace ?? '', serviceaccount: { name: sa.name ?? '', uid: sa.uid ?? '' } };
  if (opts.pod) k8s.pod = { name: opts.pod.metadata.name ?? '', uid: opts.pod.metadata.uid ?? '' };
  if (opts.node) k8s.node = opts.node;
  const claims: JwtClaims = {
    aud: opts.audiences,
    exp,
    iat,
    nbf: iat,
    iss: ISSUER,
    jti: randomUUID(),
    sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
    'kubernetes.io': k8s,
  };
  return { token: signJwt(claims, opts.key.privateKey, opts.key.kid), expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
}

export interface UserInfo {
  username: string;
  uid: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export type ReviewResult = { authenticated: true; user: UserInfo; audiences: string[] } | { authenticated: false; error: string };

/** Looks up the live objects a token is bound to (undefined = gone). */
export interface BindingLookup {
  serviceAccount(namespace: string, name: string): KubeObject | undefined;
  pod(namespace: string, name: string): KubeObject | undefined;
}

/** A string list as Go's %q prints it (`["a" "b"]`), so messages read like kube-apiserver's. */
function goQuoted(list: readonly string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/**
 * Authenticates a token: signature, issuer, time window, audience (any of `audiences`, which
 * default to the API server's; `audiences` of the result is the intersection, as TokenReview's
 * status.audiences), and that the ServiceAccount and bound pod still exist with the same uids.
 */
export function reviewToken(token: string, opts: { key: SigningKey; audiences?: string[]; now: Date; lookup: BindingLookup }): ReviewResult {
  let claims: JwtClaims;
  try {
    claims = verifyJwt(token, opts.key.publicKey);
  } catch (err) {
    return { authenticated: false, error: `invalid bearer token: ${(err as Error).message}` };
  }
  const now = Math.floor(opts.now.getTime() / 1000);
  if (claims.iss !== ISSUER) return { authenticated: false, error: `invalid bearer token: unexpected issuer ${String(claims.iss)}` };
  if (typeof claims.exp !== 'number' || now >= claims.exp) return { authenticated: false, error: 'invalid bearer token: token has expired' };
  if (typeof claims.nbf === 'number' && now + 60 < claims.nbf) return { authenticated: false, error: 'invalid bearer token: token is not valid yet' };
  // As kube-apiserver's audience-aware authenticator: a token without `aud` counts as the API
  // server's; the result is the intersection, in the order the review asked for.
  const tokenAud = Array.isArray(claims.aud) ? claims.aud.map(String) : claims.aud === undefined ? API_AUDIENCES : [String(claims.aud)];
  const wanted = opts.audiences && opts.audiences.length > 0 ? opts.audiences : API_AUDIENCES;
  const audiences = wanted.filter((a) => tokenAud.includes(a));
  if (audiences.length === 0) {
    return {
      authenticated: false,
      error: `invalid bearer token: token audiences ${goQuoted(tokenAud)} is invalid for the target audiences ${goQuoted(wanted)}`,
    };
  }
  const k8s = claims['kubernetes.io'] as KubernetesClaim | undefined;
  if (!k8s?.serviceaccount) return { authenticated: false, error: 'invalid bearer token: not a service account token' };
  const sa = opts.lookup.serviceAccount(k8s.namespace, k8s.serviceaccount.name);
  if (!sa || sa.metadata.uid !== k8s.serviceaccount.uid) {
    return { authenticated: false, error: `invalid bearer token: service account ${k8s.namespace}/${k8s.serviceaccount.name} has been deleted` };
  }
  const extra: Record<string, string[]> = {};
  if (k8s.pod) {
    const pod = opts.lookup.pod(k8s.namespace, k8s.pod.name);
    if (!pod || pod.metadata.uid !== k8s.pod.uid || pod.metadata.deletionTimestamp) {
      return { authenticated: false, error: `invalid bearer token: pod ${k8s.namespace}/${k8s.pod.name} has been deleted` };
    }
    extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name];
    extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid];
  }
  if (k8s.node) {
    extra['authentication.kubernetes.io/node-name'] = [k8s.node.name];
    if (k8s.node.uid) extra['authentication.kubernetes.io/node-uid'] = [k8s.node.uid];
  }
  if (typeof claims.jti === 'string') extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
  const user: UserInfo = {
    username: `system:serviceaccount:${k8s.namespace}:${k8s.serviceaccount.name}`,
    uid: k8s.serviceaccount.uid,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${k8s.namespace}`, 'system:authenticated'],
    extra,
  };
  return { authenticated: true, user, audiences };
}
