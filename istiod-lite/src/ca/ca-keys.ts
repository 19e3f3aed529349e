// The mesh CA's keys, shared through Kubernetes Secrets so restarts and replicas sign with the
// same root. As Istio: a user-provided plug-in CA (Secret `cacerts`) wins; otherwise a
// self-signed root kept in Secret `istio-ca-secret`, created by whichever replica starts first.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { createCertificateAuthority, type KeyCertPair } from '@ambient/api';
import type { Logger } from 'pino';
import { apiErrorMessage, apiStatusCode } from '@ambient/api/kube';
import { MeshError } from '@ambient/api';

export const PLUGIN_SECRET = 'cacerts';
export const SELF_SIGNED_SECRET = 'istio-ca-secret';

export interface MeshCa {
  /** What signs workload certificates: the root itself, or the plug-in intermediate. */
  signer: KeyCertPair;
  /** What follows a leaf in a response: the signer's certificate, intermediates, root last. */
  chain: string[];
  rootCertPem: string;
  source: 'cacerts' | 'istio-ca-secret';
}

export class CaKeysError extends MeshError<'ERR_CA_KEYS'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CA_KEYS', message, options);
  }
}

export interface LoadMeshCaOptions {
  kc: KubeConfig;
  logger: Logger;
  rootNamespace?: string;
  trustDomain?: string;
  /** Validity of a newly created self-signed root (default 10 years, as Istio). */
  rootValidityDays?: number;
}

/** Loads the mesh CA, creating the self-signed root (race-safely) on the very first start. */
export async function loadOrCreateMeshCa(opts: LoadMeshCaOptions): Promise<MeshCa> {
  const core = opts.kc.makeApiClient(CoreV1Api);
  const namespace = opts.rootNamespace ?? 'istio-system';
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const log = opts.logger.child({ component: 'ca-keys' });
  await ensureNamespace(core, namespace);

  const plugin = await readSecret(core, namespace, PLUGIN_SECRET);
  if (plugin !== undefined) {
    const ca = meshCaFromPluginSecret(secretText(plugin), `${namespace}/${PLUGIN_SECRET}`);
    log.info({ secret: `${namespace}/${PLUGIN_SECRET}`, chainLength: ca.chain.length }, 'using plug-in ca');
    return ca;
  }

  const existing = await readSecret(core, namespace, SELF_SIGNED_SECRET);
  if (existing !== undefined) return meshCaFromSelfSignedSecret(secretText(existing), `${namespace}/${SELF_SIGNED_SECRET}`);

  const root = createCertificateAuthority({ commonName: trustDomain, organization: trustDomain, validityDays: opts.rootValidityDays ?? 3650 });
  const secret: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'istio.io/ca-root',
    metadata: { name: SELF_SIGNED_SECRET, namespace },
    data: { 'ca-cert.pem': b64(root.certPem), 'ca-key.pem': b64(root.keyPem) },
  };
  try {
    await core.createNamespacedSecret({ namespace, body: secret });
    log.info({ secret: `${namespace}/${SELF_SIGNED_SECRET}` }, 'created self-signed mesh root');
    return meshCaFromSelfSignedSecret({ 'ca-cert.pem': root.certPem, 'ca-key.pem': root.keyPem }, `${namespace}/${SELF_SIGNED_SECRET}`);
  } catch (err) {
    if (apiStatusCode(err) !== 409) throw new CaKeysError(`cannot create secret ${namespace}/${SELF_SIGNED_SECRET}: ${apiErrorMessage(err)}`, { cause: err });
  }
  // Another replica won the race: sign with its root, or we would split the mesh in two.
  const winner = await readSecret(core, namespace, SELF_SIGNED_SECRET);
  if (winner === undefined) throw new CaKeysError(`secret ${namespace}/${SELF_SIGNED_SECRET} already exists but cannot be read back`);
  log.info({ secret: `${namespace}/${SELF_SIGNED_SECRET}` }, 'another replica created the mesh root; using it');
  return meshCaFromSelfSignedSecret(secretText(winner), `${namespace}/${SELF_SIGNED_SECRET}`);
}

/** `istio-ca-secret`: a self-signed root that signs directly. */
export function meshCaFromSelfSignedSecret(data: Record<string, string>, where: string): MeshCa {
  const certPem = required(data, 'ca-cert.pem', where);
  const keyPem = required(data, 'ca-key.pem', where);
  const cert = readCert(certPem, `${where} ca-cert.pem`);
  checkSigner(cert, keyPem, where);
  if (!selfSigned(cert))
    throw new CaKeysError(`${where}: ca-cert.pem (${cert.subject}) is not self-signed; a plug-in intermediate belongs in secret ${PLUGIN_SECRET}`);
  return { signer: { certPem, keyPem }, chain: [certPem], rootCertPem: certPem, source: 'istio-ca-secret' };
}

/**
 * `cacerts`, Istio's plug-in CA layout: ca-cert.pem/ca-key.pem sign, root-cert.pem is the
 * trust anchor, cert-chain.pem holds ca-cert and any intermediates up to the root. The chain
 * must link up to the root, or every workload would hold a certificate nobody can verify.
 */
export function meshCaFromPluginSecret(data: Record<string, string>, where: string): MeshCa {
  const certPem = required(data, 'ca-cert.pem', where);
  const keyPem = required(data, 'ca-key.pem', where);
  const rootPem = required(data, 'root-cert.pem', where);
  const signer = readCert(certPem, `${where} ca-cert.pem`);
  const root = readCert(rootPem, `${where} root-cert.pem`);
  checkSigner(signer, keyPem, where);
  if (!root.ca || !selfSigned(root)) throw new CaKeysError(`${where}: root-cert.pem (${root.subject}) is not a self-signed ca certificate`);

  const listed = splitPem(data['cert-chain.pem'] ?? '').map((pem, i) => ({ pem, cert: readCert(pem, `${where} cert-chain.pem #${i + 1}`) }));
  const chain = listed.length > 0 ? listed : [{ pem: certPem, cert: signer }];
  if (chain[0]!.cert.fingerprint256 !== signer.fingerprint256) chain.unshift({ pem: certPem, cert: signer });
  if (chain[chain.length - 1]!.cert.fingerprint256 !== root.fingerprint256) chain.push({ pem: rootPem, cert: root });
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i]!.cert;
    const parent = chain[i + 1]!.cert;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new CaKeysError(`${where}: certificate chain is broken: ${child.subject} is not signed by ${parent.subject}`);
    }
  }
  return { signer: { certPem, keyPem }, chain: chain.map((c) => normalizePem(c.pem)), rootCertPem: normalizePem(rootPem), source: 'cacerts' };
}

function checkSigner(cert: X509Certificate, keyPem: string, where: string): void {
  if (!cert.ca) throw new CaKeysError(`${where}: ca-cert.pem (${cert.subject}) is not a ca certificate`);
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new CaKeysError(`${where}: ca-key.pem is not a pem private key: ${(err as Error).message}`, { cause: err });
  }
  if (!matches) throw new CaKeysError(`${where}: ca-key.pem does not match ca-cert.pem (${cert.subject})`);
  if (Date.parse(cert.validTo) <= Date.now()) throw new CaKeysError(`${where}: ca-cert.pem (${cert.subject}) expired at ${cert.validTo}`);
}

function selfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

function readCert(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CaKeysError(`${what} is not a pem certificate: ${(err as Error).message}`, { cause: err });
  }
}

function required(data: Record<string, string>, key: string, where: string): string {
  const value = data[key];
  if (value === undefined || value.trim() === '') throw new CaKeysError(`${where}: key ${key} is missing or empty`);
  return value;
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function normalizePem(pem: string): string {
  const block = splitPem(pem)[0];
  return block === undefined ? pem : `${block}\n`;
}

/** Read first: a real API server authorizes a create before it looks, so posting an existing
 *  namespace would need `create namespaces`, which an installed mesh never uses. */
async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.readNamespace({ name });
    return;
  } catch (err) {
    if (apiStatusCode(err) !== 404) throw new CaKeysError(`cannot read namespace ${name}: ${apiErrorMessage(err)}`, { cause: err });
  }
  try {
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  } catch (err) {
    if (apiStatusCode(err) !== 409) throw new CaKeysError(`cannot create namespace ${name}: ${apiErrorMessage(err)}`, { cause: err });
  }
}

async function readSecret(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (apiStatusCode(err) === 404) return undefined;
    throw new CaKeysError(`cannot read secret ${namespace}/${name}: ${apiErrorMessage(err)}`, { cause: err });
  }
}

function secretText(secret: V1Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] ??= v;
  return out;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
