// X.509 certificates and PKCS#10 CSRs for the mesh CA and the local cluster's API server.
// node-forge cannot read EC keys and its RSA is pure JS, so forge is used only for its ASN.1
// encoder/decoder; keys come from node:crypto (ECDSA P-256) and node:crypto signs.
import crypto from 'node:crypto';
import net from 'node:net';
import forge from 'node-forge';
import { MeshError } from './errors.ts';

export interface KeyCertPair {
  certPem: string;
  keyPem: string;
}

export interface ParsedCsr {
  publicKeyPem: string;
  /** 'ec', 'rsa', ... (KeyObject.asymmetricKeyType) */
  keyType: string;
  /** For EC keys: 'prime256v1', ... */
  namedCurve?: string;
  commonName?: string;
  uris: string[];
  dnsNames: string[];
  signatureValid: boolean;
}

export type PkiErrorCode = 'ERR_PKI_MALFORMED_CSR' | 'ERR_PKI_INVALID_CSR_SIGNATURE' | 'ERR_PKI_BAD_INPUT';

export class PkiError extends MeshError<PkiErrorCode> {}

const asn1 = forge.asn1;
type Asn1 = forge.asn1.Asn1;

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

// Clients and servers whose clocks run a little behind must still accept a fresh certificate.
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_SECONDS = 24 * 60 * 60;

// ---- public API ------------------------------------------------------------------------------

export function createCertificateAuthority(opts: { commonName: string; organization?: string; validityDays?: number }): KeyCertPair {
  const { privateKey, publicKey } = generateKey();
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const subject = nameNode(opts.commonName, opts.organization);
  const ski = keyIdentifier(spkiDer);
  const { notBefore, notAfter } = validityWindow((opts.validityDays ?? 3650) * DAY_SECONDS);
  const certPem = buildCertificate({
    issuer: subject,
    subject,
    spkiDer,
    notBefore,
    notAfter,
    signer: privateKey,
    extensions: [
      extension(OID.basicConstraints, true, seq([asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\xff')])),
      extension(OID.keyUsage, true, keyUsageBits([5, 6])), // keyCertSign, cRLSign
      extension(OID.subjectKeyIdentifier, false, octets(ski)),
      extension(OID.authorityKeyIdentifier, false, seq([contextPrimitive(0, ski)])),
    ],
  });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export function issueCertificate(opts: {
  ca: KeyCertPair;
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  validityDays?: number;
  validitySeconds?: number;
  keyPem?: string;
  isServer?: boolean;
  isClient?: boolean;
}): KeyCertPair {
  const privateKey = opts.keyPem !== undefined ? readPrivateKey(opts.keyPem) : generateKey().privateKey;
  const spkiDer = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const certPem = issueLeaf({
    ca: opts.ca,
    spkiDer,
    commonName: opts.commonName,
    validitySeconds: opts.validitySeconds ?? (opts.validityDays ?? 365) * DAY_SECONDS,
    san: { dnsNames: opts.dnsNames ?? [], ipAddresses: opts.ipAddresses ?? [], uris: opts.uris ?? [] },
    isServer: opts.isServer ?? true,
    isClient: opts.isClient ?? true,
  });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** CSR (PKCS#10) for an existing key with the given SANs (the mesh's workload CSRs: URI SAN = SPIFFE ID). */
export function createCsr(opts: { keyPem: string; commonName?: string; uris?: string[]; dnsNames?: string[] }): string {
  const privateKey = readPrivateKey(opts.keyPem);
  const spkiDer = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const san = { dnsNames: opts.dnsNames ?? [], ipAddresses: [], uris: opts.uris ?? [] };
  const attributes: Asn1[] = [];
  if (san.dnsNames.length + san.uris.length > 0) {
    const requested = seq([extension(OID.subjectAltName, !opts.commonName, generalNames(san))]);
    attributes.push(seq([oid(OID.extensionRequest), set([requested])]));
  }
  const info = seq([
    integer(Buffer.from([0])),
    nameNode(opts.commonName ?? ''),
    fromDer(spkiDer),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0 as forge.asn1.Type, true, attributes),
  ]);
  const infoDer = toDer(info);
  const { algorithm, signature } = signWith(privateKey, infoDer);
  const csrDer = toDer(seq([info, algorithm, bitString(signature)]));
  return toPem('CERTIFICATE REQUEST', csrDer);
}

/** Reads a PEM CSR and checks its self-signature; throws a PkiError on anything malformed. */
export function parseCsr(csrPem: string): ParsedCsr {
  const der = fromPem(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  try {
    const root = fromDer(der);
    const [info, algorithm, signature] = children(root, 'certification request', 3);
    const [version, subject, spki, attributes] = children(info, 'certification request info', 3);
    if (Buffer.from(version.value as string, 'binary').toString('hex') !== '00') throw new Error('unsupported csr version');
    const spkiDer = toDer(spki);
    const publicKey = crypto.createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
    const san = attributes !== undefined ? requestedSan(attributes) : { uris: [], dnsNames: [] };
    const commonName = readCommonName(subject);
    const algorithmOid = asn1.derToOid(children(algorithm, 'signature algorithm', 1)[0].value as string);
    const signatureDer = bitStringBytes(signature);
    // Re-encoding a decoded DER structure is byte-identical, so this is what the requester signed.
    const infoDer = rawFirstChild(der);
    const signatureValid = verifySignature(algorithmOid, infoDer, publicKey, signatureDer);
    const parsed: ParsedCsr = {
      // The CSR's own SubjectPublicKeyInfo, which the key parsed from (OpenSSL's export of it
      // again cost as much as the parse; the PEM is the same for the DER it re-encodes).
      publicKeyPem: toPem('PUBLIC KEY', spkiDer),
      keyType: publicKey.asymmetricKeyType ?? 'unknown',
      uris: san.uris,
      dnsNames: san.dnsNames,
      signatureValid,
    };
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    if (curve !== undefined) parsed.namedCurve = curve;
    if (commonName !== undefined) parsed.commonName = commonName;
    return parsed;
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('ERR_PKI_MALFORMED_CSR', `malformed csr: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Signs a certificate for the public key of a verified CSR. The subject is empty (as SPIFFE
 * X509-SVIDs have it); the SANs are the caller's (the CA decides the identity), else the CSR's.
 */
export function signCsr(opts: { ca: KeyCertPair; csrPem: string; uris?: string[]; dnsNames?: string[]; validitySeconds: number }): string {
  return signParsedCsr({ ...opts, csr: parseCsr(opts.csrPem) });
}

/** signCsr for a CSR the caller has parsed already (parseCsr: its signature is checked there). */
export function signParsedCsr(opts: { ca: KeyCertPair; csr: ParsedCsr; uris?: string[]; dnsNames?: string[]; validitySeconds: number }): string {
  const { csr } = opts;
  if (!csr.signatureValid) throw new PkiError('ERR_PKI_INVALID_CSR_SIGNATURE', 'csr signature does not verify with its own public key');
  const spkiDer = fromPem(csr.publicKeyPem, ['PUBLIC KEY']);
  return issueLeaf({
    ca: opts.ca,
    spkiDer,
    commonName: '',
    validitySeconds: opts.validitySeconds,
    san: { dnsNames: opts.dnsNames ?? csr.dnsNames, ipAddresses: [], uris: opts.uris ?? csr.uris },
    isServer: true,
    isClient: true,
  });
}

// ---- certificate building ----------------------------------------------------------------------

interface SanSet {
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
}

function issueLeaf(opts: {
  ca: KeyCertPair;
  spkiDer: Buffer;
  commonName: string;
  validitySeconds: number;
  san: SanSet;
  isServer: boolean;
  isClient: boolean;
}): string {
  if (!(opts.validitySeconds > 0)) throw new PkiError('ERR_PKI_BAD_INPUT', `validity must be positive, got ${opts.validitySeconds} seconds`);
  const ca = readIssuer(opts.ca);
  const window = validityWindow(opts.validitySeconds);
  // A certificate cannot outlive its issuer: verifiers would reject the chain anyway.
  const notAfter = window.notAfter > ca.notAfter ? ca.notAfter : window.notAfter;
  const subject = nameNode(opts.commonName);
  const extensions = [
    extension(OID.basicConstraints, true, seq([])),
    extension(OID.keyUsage, true, keyUsageBits([0, 2])), // digitalSignature, keyEncipherment
  ];
  const purposes = [...(opts.isServer ? [OID.serverAuth] : []), ...(opts.isClient ? [OID.clientAuth] : [])];
  if (purposes.length > 0) extensions.push(extension(OID.extKeyUsage, false, seq(purposes.map(oid))));
  const sanCount = opts.san.dnsNames.length + opts.san.ipAddresses.length + opts.san.uris.length;
  if (sanCount > 0) extensions.push(extension(OID.subjectAltName, opts.commonName === '', generalNames(opts.san)));
  else if (opts.commonName === '') throw new PkiError('ERR_PKI_BAD_INPUT', 'a certificate with an empty subject needs at least one subject alternative name');
  extensions.push(
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(opts.spkiDer))),
    extension(OID.authorityKeyIdentifier, false, seq([contextPrimitive(0, ca.keyId)])),
  );
  return buildCertificate({
    issuer: ca.subject,
    subject,
    spkiDer: opts.spkiDer,
    notBefore: window.notBefore,
    notAfter,
    signer: ca.key,
    extensions,
  });
}

function buildCertificate(opts: {
  issuer: Asn1;
  subject: Asn1;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  signer: crypto.KeyObject;
  extensions: Asn1[];
}): string {
  const algorithm = signatureAlgorithm(opts.signer);
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0 as forge.asn1.Type, true, [integer(Buffer.from([2]))]), // v3
    integer(randomSerial()),
    algorithm,
    opts.issuer,
    seq([time(opts.notBefore), time(opts.notAfter)]),
    opts.subject,
    fromDer(opts.spkiDer),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3 as forge.asn1.Type, true, [seq(opts.extensions)]),
  ]);
  const tbsDer = toDer(tbs);
  const { signature } = signWith(opts.signer, tbsDer);
  return toPem('CERTIFICATE', toDer(seq([tbs, algorithm, bitString(signature)])));
}

interface Issuer {
  key: crypto.KeyObject;
  subject: Asn1;
  keyId: Buffer;
  notAfter: Date;
}

/** Issuers read from each KeyCertPair object (reading one parses a key and a certificate). */
const issuers = new WeakMap<KeyCertPair, { certPem: string; keyPem: string; issuer: Issuer }>();

function readIssuer(ca: KeyCertPair): Issuer {
  const known = issuers.get(ca);
  if (known !== undefined && known.certPem === ca.certPem && known.keyPem === ca.keyPem) return known.issuer;
  const issuer = parseIssuer(ca);
  issuers.set(ca, { certPem: ca.certPem, keyPem: ca.keyPem, issuer });
  return issuer;
}

function parseIssuer(ca: KeyCertPair): Issuer {
  const key = readPrivateKey(ca.keyPem);
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(ca.certPem);
  } catch (err) {
    throw new PkiError('ERR_PKI_BAD_INPUT', `ca certificate is not a valid pem certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!cert.ca) throw new PkiError('ERR_PKI_BAD_INPUT', `certificate ${cert.subject} is not a ca (basicConstraints CA:false)`);
  if (!cert.checkPrivateKey(key)) throw new PkiError('ERR_PKI_BAD_INPUT', `ca key does not match ca certificate ${cert.subject}`);
  const tbs = (fromDer(cert.raw).value as Asn1[])[0]!;
  const fields = tbs.value as Asn1[];
  const offset = fields[0]!.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0; // explicit version present
  const subject = fields[offset + 4]!;
  const spkiDer = toDer(fields[offset + 5]!);
  // Prefer the issuer's own subjectKeyIdentifier so chains built by other tools link up.
  const keyId = findExtension(fields, OID.subjectKeyIdentifier) ?? keyIdentifier(spkiDer);
  return { key, subject, keyId, notAfter: new Date(cert.validTo) };
}

function findExtension(tbsFields: Asn1[], extensionOid: string): Buffer | undefined {
  const wrapper = tbsFields.find((f) => f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3);
  if (wrapper === undefined) return undefined;
  for (const ext of (wrapper.value as Asn1[])[0]!.value as Asn1[]) {
    const parts = ext.value as Asn1[];
    if (asn1.derToOid(parts[0]!.value as string) !== extensionOid) continue;
    const inner = fromDer(Buffer.from(parts[parts.length - 1]!.value as string, 'binary'));
    return Buffer.from(inner.value as string, 'binary');
  }
  return undefined;
}

function validityWindow(seconds: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + seconds * 1000) };
}

// ---- keys and signatures -----------------------------------------------------------------------

function generateKey(): crypto.KeyPairKeyObjectResult {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function readPrivateKey(pem: string): crypto.KeyObject {
  try {
    return crypto.createPrivateKey(pem);
  } catch (err) {
    throw new PkiError('ERR_PKI_BAD_INPUT', `not a pem private key: ${(err as Error).message}`, { cause: err });
  }
}

function signatureAlgorithm(key: crypto.KeyObject): Asn1 {
  if (key.asymmetricKeyType === 'ec') return seq([oid(OID.ecdsaWithSha256)]); // ECDSA: parameters absent
  if (key.asymmetricKeyType === 'rsa') return seq([oid(OID.sha256WithRsa), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
  throw new PkiError('ERR_PKI_BAD_INPUT', `unsupported signing key type ${key.asymmetricKeyType}`);
}

function signWith(key: crypto.KeyObject, data: Buffer): { algorithm: Asn1; signature: Buffer } {
  // For EC keys node emits the DER (r, s) SEQUENCE that X.509 expects inside the BIT STRING.
  return { algorithm: signatureAlgorithm(key), signature: crypto.sign('sha256', data, key) };
}

function verifySignature(algorithmOid: string, data: Buffer, key: crypto.KeyObject, signature: Buffer): boolean {
  const hash =
    algorithmOid === OID.ecdsaWithSha256 || algorithmOid === OID.sha256WithRsa ? 'sha256' : algorithmOid === OID.ecdsaWithSha384 ? 'sha384' : undefined;
  if (hash === undefined) throw new PkiError('ERR_PKI_MALFORMED_CSR', `malformed csr: unsupported signature algorithm ${algorithmOid}`);
  try {
    return crypto.verify(hash, data, key, signature);
  } catch {
    return false; // a signature that does not even decode is simply not valid
  }
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spkiDer: Buffer): Buffer {
  const spki = fromDer(spkiDer);
  return crypto
    .createHash('sha1')
    .update(bitStringBytes((spki.value as Asn1[])[1]!))
    .digest();
}

function randomSerial(): Buffer {
  const serial = crypto.randomBytes(16);
  // Positive (top bit clear) and minimal DER (first byte non-zero) without a padding byte.
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

// ---- names and extensions ------------------------------------------------------------------------

function nameNode(commonName: string, organization?: string): Asn1 {
  const rdns: Asn1[] = [];
  if (organization) rdns.push(set([seq([oid(OID.organization), utf8(organization)])]));
  if (commonName) rdns.push(set([seq([oid(OID.commonName), utf8(commonName)])]));
  return seq(rdns);
}

function readCommonName(name: Asn1): string | undefined {
  for (const rdn of name.value as Asn1[]) {
    for (const attr of rdn.value as Asn1[]) {
      const [type, value] = attr.value as Asn1[];
      if (asn1.derToOid(type!.value as string) === OID.commonName) return Buffer.from(value!.value as string, 'binary').toString('utf8');
    }
  }
  return undefined;
}

function generalNames(san: SanSet): Asn1 {
  return seq([
    ...san.dnsNames.map((d) => contextPrimitive(2, Buffer.from(d, 'ascii'))),
    ...san.ipAddresses.map((ip) => contextPrimitive(7, ipBytes(ip))),
    ...san.uris.map((u) => contextPrimitive(6, Buffer.from(u, 'ascii'))),
  ]);
}

function requestedSan(attributes: Asn1): { uris: string[]; dnsNames: string[] } {
  const out = { uris: [] as string[], dnsNames: [] as string[] };
  for (const attr of attributes.value as Asn1[]) {
    const [type, values] = children(attr, 'csr attribute', 2);
    if (asn1.derToOid(type.value as string) !== OID.extensionRequest) continue;
    for (const ext of children(values, 'extension request', 1)[0].value as Asn1[]) {
      const parts = ext.value as Asn1[];
      if (asn1.derToOid(parts[0]!.value as string) !== OID.subjectAltName) continue;
      const names = fromDer(Buffer.from(parts[parts.length - 1]!.value as string, 'binary'));
      for (const gn of names.value as Asn1[]) {
        if (gn.tagClass !== asn1.Class.CONTEXT_SPECIFIC) continue;
        const text = Buffer.from(gn.value as string, 'binary').toString('ascii');
        if (gn.type === 6) out.uris.push(text);
        else if (gn.type === 2) out.dnsNames.push(text);
      }
    }
  }
  return out;
}

function extension(extensionOid: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(extensionOid)];
  // DER omits a DEFAULT FALSE boolean.
  if (critical) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\xff'));
  parts.push(octets(toDer(value)));
  return seq(parts);
}

/** A DER named BIT STRING: trailing zero bits dropped, their count in the first octet. */
function keyUsageBits(bits: number[]): Asn1 {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const unused = 7 - (highest & 7);
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(unused) + bytes.toString('binary'));
}

/** An IPv4 or IPv6 literal as the 4 or 16 octets an iPAddress SAN holds. */
function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!net.isIPv6(ip)) throw new PkiError('ERR_PKI_BAD_INPUT', `not an ip address: ${ip}`);
  let text = ip.replace(/%.*$/, '');
  // An embedded dotted quad (::ffff:1.2.3.4) becomes the last two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, quad.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(parseInt(g, 16), i * 2);
  return out;
}

// ---- ASN.1 / DER / PEM plumbing ------------------------------------------------------------------

function seq(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, value);
}
function set(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, value);
}
function oid(value: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(value).getBytes());
}
function utf8(value: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, Buffer.from(value, 'utf8').toString('binary'));
}
function octets(value: Buffer): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, value.toString('binary'));
}
function integer(value: Buffer): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, value.toString('binary'));
}
function bitString(value: Buffer): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\x00' + value.toString('binary'));
}
function contextPrimitive(tag: number, value: Buffer): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag as forge.asn1.Type, false, value.toString('binary'));
}

function time(date: Date): Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function bitStringBytes(node: Asn1): Buffer {
  if (node.type !== asn1.Type.BITSTRING || typeof node.value !== 'string') throw new Error('expected a bit string');
  const bytes = Buffer.from(node.value, 'binary');
  if (bytes[0] !== 0) throw new Error('bit string with unused bits');
  return bytes.subarray(1);
}

function children(node: Asn1 | undefined, what: string, min: number): [Asn1, ...Asn1[]] & Asn1[] {
  if (node === undefined || !Array.isArray(node.value) || node.value.length < min) throw new Error(`${what} is not a sequence of at least ${min} elements`);
  return node.value as [Asn1, ...Asn1[]];
}

function toDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function fromDer(der: Buffer): Asn1 {
  // Bit strings stay opaque: a signature must not be mistaken for nested ASN.1.
  const options = { strict: true, parseAllBytes: true, decodeBitStrings: false };
  return asn1.fromDer(der.toString('binary'), options as unknown as boolean);
}

/** The exact bytes of the first element inside the outer SEQUENCE (what a signature covers). */
function rawFirstChild(der: Buffer): Buffer {
  const outer = tlvHeader(der, 0);
  const inner = tlvHeader(der, outer.headerLength);
  return der.subarray(outer.headerLength, outer.headerLength + inner.headerLength + inner.length);
}

function tlvHeader(der: Buffer, offset: number): { headerLength: number; length: number } {
  const first = der[offset + 1];
  if (first === undefined) throw new Error('truncated der');
  if (first < 0x80) return { headerLength: 2, length: first };
  const count = first & 0x7f;
  if (count === 0 || count > 4) throw new Error(`unsupported der length of ${count} octets`);
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
  return { headerLength: 2 + count, length };
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function fromPem(pem: string, labels: string[]): Buffer {
  const match = typeof pem === 'string' ? /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem) : null;
  if (match === null || !labels.includes(match[1]!)) {
    const shown = typeof pem === 'string' ? JSON.stringify(pem.slice(0, 40)) : typeof pem;
    throw new PkiError('ERR_PKI_MALFORMED_CSR', `malformed csr: expected a pem block "${labels[0]}", got ${shown}`);
  }
  const body = match[2]!.replace(/\s+/g, '');
  if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body))
    throw new PkiError('ERR_PKI_MALFORMED_CSR', `malformed csr: pem body of "${match[1]}" is not base64`);
  return Buffer.from(body, 'base64');
}
