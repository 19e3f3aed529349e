// What the CA hands back is checked before it is ever used: a CA bug, a misconfigured CA or a
// man in the middle must not make ztunnel present someone else's identity, or one peers reject.
// Pure: parsing and signature checks only, the clock is a parameter.
import crypto from 'node:crypto';
import { IdentityError } from './identity-error.ts';

export interface IssuedChain {
  /** Leaf first, then intermediates; the root is not included (peers have it). */
  certChainPem: string[];
  leaf: crypto.X509Certificate;
  notBefore: Date;
  notAfter: Date;
}

/** Splits a PEM bundle (the root may be several certificates during a root rotation). */
export function splitPemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

/**
 * Accepts the chain only if the leaf's only URI SAN is `identity`, the leaf holds the public key
 * of `privateKey`, every link is signed by the next, the last link is signed by one of `rootsPem`,
 * and every certificate is valid at `now`.
 */
export function verifyIssuedChain(opts: { identity: string; chainPem: string[]; rootsPem: string[]; privateKey: crypto.KeyObject; now: number }): IssuedChain {
  const { identity } = opts;
  const invalid = (message: string, cause?: unknown): IdentityError =>
    new IdentityError('ERR_CERT_INVALID', `certificate for ${identity} rejected: ${message}`, cause === undefined ? undefined : { cause });
  if (opts.chainPem.length === 0) throw invalid('the ca returned an empty chain');
  let chain: crypto.X509Certificate[];
  let roots: crypto.X509Certificate[];
  try {
    chain = opts.chainPem.map((pem) => new crypto.X509Certificate(pem));
  } catch (err) {
    throw invalid(`the ca returned a chain that does not parse: ${(err as Error).message}`, err);
  }
  try {
    roots = opts.rootsPem.map((pem) => new crypto.X509Certificate(pem));
  } catch (err) {
    throw invalid(`the configured root does not parse: ${(err as Error).message}`, err);
  }
  const leaf = chain[0]!;

  const uris = uriSans(leaf);
  if (uris.length !== 1 || uris[0] !== identity) throw invalid(`leaf uri sans are ${JSON.stringify(uris)}, expected exactly ${JSON.stringify([identity])}`);
  if (leaf.ca) throw invalid(`leaf ${leaf.serialNumber} is a ca certificate`);
  if (!leaf.checkPrivateKey(opts.privateKey)) throw invalid(`leaf ${leaf.serialNumber} does not carry the key of our csr`);

  // Walk leaf → intermediates until a certificate that is one of our roots (the CA usually
  // appends the root) or the end of the chain; each link must be signed by the next.
  const isRoot = (cert: crypto.X509Certificate): boolean => roots.some((r) => r.fingerprint256 === cert.fingerprint256);
  const used: crypto.X509Certificate[] = [leaf];
  let current = leaf;
  for (const next of chain.slice(1)) {
    if (isRoot(next)) break;
    if (!signedBy(current, next)) throw invalid(`${describe(current)} is not signed by ${describe(next)}`);
    used.push(next);
    current = next;
  }
  const anchor = roots.find((root) => signedBy(current, root));
  if (anchor === undefined) throw invalid(`${describe(current)} does not chain to the configured root ${roots.map(describe).join(', ') || '(none)'}`);

  for (const cert of [...used, anchor]) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (!(opts.now >= from && opts.now < to)) {
      throw invalid(
        `${describe(cert)} is not valid at ${new Date(opts.now).toISOString()} (valid ${new Date(from).toISOString()} to ${new Date(to).toISOString()})`,
      );
    }
  }
  return {
    certChainPem: used.map((c) => c.toString()),
    leaf,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

/** The URI SANs of a certificate; Node quotes values with special characters, which then never match. */
export function uriSans(cert: crypto.X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('URI:'))
    .map((n) => n.slice(4));
}

function signedBy(cert: crypto.X509Certificate, issuer: crypto.X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function describe(cert: crypto.X509Certificate): string {
  // Node leaves `subject` undefined for the empty subject SPIFFE certificates have.
  const name = (cert.subject ?? '').trim() || uriSans(cert)[0] || '(empty subject)';
  return `certificate ${JSON.stringify(name)} (serial ${cert.serialNumber})`;
}
