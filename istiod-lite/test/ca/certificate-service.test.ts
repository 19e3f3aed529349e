import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createCsr, issueCertificate } from '@ambient/api';
import { CertificateServiceClient, certificateServiceDefinition, type CaCertificateRequest, type CaCertificateResponse } from '@ambient/api/grpc';
import { TokenReviewAuthenticator } from '../../src/auth/token-review-authenticator.ts';
import { loadOrCreateMeshCa, type MeshCa } from '../../src/ca/ca-keys.ts';
import { createCertificateService } from '../../src/ca/certificate-service.ts';
import { createMetrics, type IstiodMetrics } from '../../src/metrics.ts';
import {
  createNamespace,
  createRunningPod,
  createServiceAccount,
  expiredToken,
  podSnapshot,
  requestToken,
  silent,
  startCaCluster,
  type CaCluster,
} from './ca-fixture.ts';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

function newKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Flips a bit in the last byte of the CSR, which lies inside the signature's s value. */
function corruptSignature(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

describe('certificate service (gRPC over TLS, embedded API server)', function () {
  this.timeout(30_000);
  let cluster: CaCluster;
  let server: grpc.Server | undefined;
  let client: CertificateServiceClient | undefined;
  let ca: MeshCa;
  let metrics: IstiodMetrics;
  const tokens: Record<string, string> = {};

  before(async () => {
    cluster = await startCaCluster();
    const { core } = cluster;
    ca = await loadOrCreateMeshCa({ kc: cluster.kc, logger: silent }); // creates istio-system
    await createNamespace(core, 'shop');
    await createServiceAccount(core, 'istio-system', 'ztunnel');
    await createServiceAccount(core, 'shop', 'web');
    await createRunningPod(core, { namespace: 'istio-system', name: 'ztunnel-node-1', serviceAccount: 'ztunnel', node: 'node-1' });
    await createRunningPod(core, { namespace: 'istio-system', name: 'ztunnel-node-2', serviceAccount: 'ztunnel', node: 'node-2' });
    await createRunningPod(core, { namespace: 'shop', name: 'web-1', serviceAccount: 'web', node: 'node-2' });
    tokens.ztunnel1 = await requestToken(core, 'istio-system', 'ztunnel', 'ztunnel-node-1');
    tokens.ztunnel2 = await requestToken(core, 'istio-system', 'ztunnel', 'ztunnel-node-2');
    tokens.web = await requestToken(core, 'shop', 'web', 'web-1');
    const webSa = await core.readNamespacedServiceAccount({ namespace: 'shop', name: 'web' });
    tokens.expired = expiredToken(cluster, 'shop', { name: 'web', uid: webSa.metadata!.uid! });

    metrics = createMetrics();
    const service = createCertificateService({
      ca,
      metrics,
      logger: silent,
      trustDomain: 'cluster.local',
      rootNamespace: 'istio-system',
      authenticator: new TokenReviewAuthenticator(cluster.kc),
      pods: await podSnapshot(core),
    });
    server = new grpc.Server();
    server.addService(certificateServiceDefinition, service.handlers);
    const serving = issueCertificate({ ca: ca.signer, commonName: 'istiod', dnsNames: ['istiod.istio-system.svc'], validityDays: 1 });
    const creds = grpc.ServerCredentials.createSsl(
      Buffer.from(ca.rootCertPem),
      [{ cert_chain: Buffer.from(serving.certPem + ca.chain.join('')), private_key: Buffer.from(serving.keyPem) }],
      false,
    );
    const port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
    client = new CertificateServiceClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.rootCertPem)), {
      // Verify the serving certificate by its DNS name (an IP as TLS server name is deprecated).
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
      'grpc.default_authority': 'istiod.istio-system.svc',
    });
  });

  after(async () => {
    client?.close();
    if (server) await new Promise<void>((resolve) => server!.tryShutdown(() => resolve()));
    await cluster?.close();
  });

  function call(token: string | undefined, request: CaCertificateRequest): Promise<CaCertificateResponse> {
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    return new Promise((resolve, reject) => {
      client!.CreateCertificate(request, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  async function denied(reason: string): Promise<number> {
    const values = (await metrics.certsDenied.get()).values;
    return values.find((v) => v.labels.reason === reason)?.value ?? 0;
  }

  /** Asserts the call fails with `code`, a message matching `message`, and one more `reason` denial counted. */
  async function expectDenied(promise: () => Promise<unknown>, code: grpc.status, reason: string, message: RegExp): Promise<void> {
    const before = await denied(reason);
    await assert.rejects(promise(), (err: grpc.ServiceError) => {
      assert.equal(err.code, code, `code ${err.code}: ${err.details}`);
      assert.match(err.details, message);
      return true;
    });
    assert.equal(await denied(reason), before + 1, `citadel_server_csr_sign_error_count{reason="${reason}"} did not increase`);
  }

  it("denies node-1's ztunnel a certificate for a pod identity on node-2, naming the node", async () => {
    const csr = createCsr({ keyPem: newKey(), uris: [WEB] });
    await expectDenied(
      () => call(tokens.ztunnel1, { csr, impersonatedIdentity: WEB }),
      grpc.status.PERMISSION_DENIED,
      'wrong-node',
      /identity spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web has no pod on node node-1/,
    );
  });

  it("grants node-2's ztunnel that identity: leaf verifies against the root, carries exactly the SPIFFE URI, chain leaf…root", async () => {
    const issuedBefore = (await metrics.certsIssued.get()).values[0]?.value ?? 0;
    const keyPem = newKey();
    const res = await call(tokens.ztunnel2, { csr: createCsr({ keyPem, uris: [WEB] }), impersonatedIdentity: WEB });
    const chain = (res.certChain ?? []).map((pem) => new X509Certificate(pem));
    assert.equal(chain.length, 2);
    const [leaf, root] = chain as [X509Certificate, X509Certificate];
    assert.equal(root.fingerprint256, new X509Certificate(ca.rootCertPem).fingerprint256, 'root last');
    assert.ok(leaf.checkIssued(root), 'leaf issued by root');
    assert.ok(leaf.verify(root.publicKey), 'leaf signature verifies with the root key');
    assert.equal(leaf.subjectAltName, `URI:${WEB}`);
    assert.ok(!leaf.subject, `empty subject, got ${JSON.stringify(leaf.subject)}`);
    assert.equal(leaf.ca, false);
    assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(keyPem)), 'leaf is for the csr key');
    const lifetimeH = (Date.parse(leaf.validTo) - Date.now()) / 3_600_000;
    assert.ok(lifetimeH > 23.9 && lifetimeH <= 24, `default ttl is 24h, got ${lifetimeH}h`);
    assert.equal((await metrics.certsIssued.get()).values[0]?.value, issuedBefore + 1);
    const signed = (await metrics.signLatency.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    assert.ok(signed > 0, 'signing latency observed');
  });

  it('grants a workload its own identity with the requested ttl', async () => {
    const res = await call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: [WEB] }), validityDuration: 3600 });
    const leaf = new X509Certificate(res.certChain![0]!);
    assert.equal(leaf.subjectAltName, `URI:${WEB}`);
    const lifetimeS = (Date.parse(leaf.validTo) - Date.now()) / 1000;
    assert.ok(lifetimeS > 3500 && lifetimeS <= 3600, `ttl 3600s, got ${lifetimeS}s`);
  });

  it('denies a workload another identity', async () => {
    const other = 'spiffe://cluster.local/ns/shop/sa/db';
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: [other] }) }),
      grpc.status.PERMISSION_DENIED,
      'identity-mismatch',
      /shop\/web may not obtain a certificate for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/db/,
    );
  });

  it('denies impersonation by a non-ztunnel service account', async () => {
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: [WEB] }), impersonatedIdentity: WEB }),
      grpc.status.PERMISSION_DENIED,
      'impersonation-denied',
      /shop\/web may not impersonate/,
    );
  });

  it('rejects a missing, garbage or expired token as UNAUTHENTICATED', async () => {
    const csr = createCsr({ keyPem: newKey(), uris: [WEB] });
    await expectDenied(() => call(undefined, { csr }), grpc.status.UNAUTHENTICATED, 'unauthenticated', /missing bearer token/);
    await expectDenied(() => call('not-a-jwt', { csr }), grpc.status.UNAUTHENTICATED, 'unauthenticated', /token rejected: invalid bearer token/);
    await expectDenied(() => call(tokens.expired, { csr }), grpc.status.UNAUTHENTICATED, 'unauthenticated', /expired/);
  });

  it('rejects a foreign token (signed by another key) as UNAUTHENTICATED', async () => {
    const [h, p] = tokens.web!.split('.') as [string, string];
    const forged = `${h}.${p}.${Buffer.alloc(64, 7).toString('base64url')}`;
    await expectDenied(() => call(forged, { csr: createCsr({ keyPem: newKey(), uris: [WEB] }) }), grpc.status.UNAUTHENTICATED, 'unauthenticated', /signature/);
  });

  it('rejects wrong SANs: two URIs, another trust domain, a DNS SAN', async () => {
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: [WEB, 'spiffe://cluster.local/ns/shop/sa/db'] }) }),
      grpc.status.INVALID_ARGUMENT,
      'bad-san',
      /exactly one spiffe uri san, got 2/,
    );
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: ['spiffe://evil.org/ns/shop/sa/web'] }) }),
      grpc.status.INVALID_ARGUMENT,
      'bad-san',
      /spiffe:\/\/evil\.org\/ns\/shop\/sa\/web is not in trust domain cluster\.local/,
    );
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: [WEB], dnsNames: ['web.shop.svc.cluster.local'] }) }),
      grpc.status.INVALID_ARGUMENT,
      'bad-san',
      /dns sans, got web\.shop\.svc\.cluster\.local/,
    );
  });

  it('rejects a CSR with a bad signature, and one that is not a CSR', async () => {
    const csr = corruptSignature(createCsr({ keyPem: newKey(), uris: [WEB] }));
    await expectDenied(() => call(tokens.web, { csr }), grpc.status.INVALID_ARGUMENT, 'bad-signature', /signature does not verify/);
    await expectDenied(() => call(tokens.web, { csr: 'hello' }), grpc.status.INVALID_ARGUMENT, 'bad-csr', /malformed csr/);
  });

  it('rejects a CSR for a non-P-256 key', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: p384, uris: [WEB] }) }),
      grpc.status.INVALID_ARGUMENT,
      'bad-csr',
      /ecdsa p-256, got ec secp384r1/,
    );
  });

  it('rejects a TTL above 90 days with INVALID_ARGUMENT', async () => {
    await expectDenied(
      () => call(tokens.web, { csr: createCsr({ keyPem: newKey(), uris: [WEB] }), validityDuration: 91 * 86_400 }),
      grpc.status.INVALID_ARGUMENT,
      'bad-ttl',
      /exceeds the maximum of 7776000s/,
    );
  });
});
