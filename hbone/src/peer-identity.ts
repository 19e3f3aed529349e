// Who is on the other end of a mesh TLS connection. Node's hostname check ignores URI SANs and
// the mesh uses neither DNS SANs nor SNI, so both HBONE ends decide from the SPIFFE URI SAN.
import crypto from 'node:crypto';
import type tls from 'node:tls';

// Mesh chains are root → (optional intermediates) → leaf; anything deeper is not ours.
const MAX_CHAIN_DEPTH = 8;

/** The URI SANs of a certificate, from Node's `subjectaltname` rendering. */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return [];
  const out: string[] = [];
  for (const entry of subjectAltName.split(', ')) {
    if (entry.startsWith('URI:')) out.push(entry.slice(4));
  }
  return out;
}

/** Why the server certificate is not one of the expected identities, or undefined if it is. */
export function checkExpectedIdentity(cert: tls.PeerCertificate, expected: readonly string[]): string | undefined {
  const sans = uriSans(cert.subjectaltname);
  if (sans.some((san) => expected.includes(san))) return undefined;
  return `peer identity ${sans.length > 0 ? sans.join(',') : '(none)'} is not one of ${expected.join(',')}`;
}

/**
 * Why a peer chain does not lead to the mesh root, or undefined if it does. Checked here rather
 * than trusted to the context's store so a context built without `ca` (and so trusting the
 * system roots) can never admit a foreign certificate that happens to carry a SPIFFE URI.
 */
export function chainProblem(peer: tls.DetailedPeerCertificate, root: crypto.X509Certificate, now: number): string | undefined {
  let current: tls.DetailedPeerCertificate | undefined = peer;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH && current !== undefined && current.raw !== undefined; depth++) {
    const cert = new crypto.X509Certificate(current.raw);
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
      return `certificate ${cert.subject || cert.subjectAltName} is outside its validity (${cert.validFrom} to ${cert.validTo})`;
    }
    if (cert.fingerprint256 === root.fingerprint256) return undefined;
    const issuer: tls.DetailedPeerCertificate | undefined = current.issuerCertificate;
    if (issuer === undefined || issuer === current || issuer.raw === undefined || issuer.fingerprint256 === current.fingerprint256) break;
    const issuerCert = new crypto.X509Certificate(issuer.raw);
    if (!issuerCert.ca || !cert.verify(issuerCert.publicKey)) return `certificate ${cert.subjectAltName} is not signed by a mesh ca`;
    current = issuer;
  }
  return 'certificate chain does not lead to the mesh root';
}
