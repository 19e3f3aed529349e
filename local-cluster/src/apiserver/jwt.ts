// Minimal ES256 JSON Web Tokens (RFC 7515/7519 compact form) with node:crypto. JOSE wants
// the raw r||s signature, hence dsaEncoding 'ieee-p1363'.
import { createHash, sign, verify, type KeyObject } from 'node:crypto';

export type JwtClaims = Record<string, unknown>;

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** Key id as Kubernetes computes it: base64url(sha256(DER SubjectPublicKeyInfo)). */
export function keyId(publicKey: KeyObject): string {
  return b64url(
    createHash('sha256')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest(),
  );
}

export function signJwt(claims: JwtClaims, privateKey: KeyObject, kid: string): string {
  const input = `${b64url(JSON.stringify({ alg: 'ES256', kid }))}.${b64url(JSON.stringify(claims))}`;
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

/** Returns the claims of a token signed by `publicKey`; throws with the reason otherwise. */
export function verifyJwt(token: string, publicKey: KeyObject): JwtClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('token is not a compact jws');
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string };
  let claims: JwtClaims;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string };
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as JwtClaims;
  } catch (err) {
    throw new Error('token is malformed', { cause: err });
  }
  if (header.alg !== 'ES256') throw new Error(`unexpected token algorithm ${String(header.alg)}`);
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('invalid token signature');
  return claims;
}
