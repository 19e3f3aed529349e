import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { createCertificateAuthority, createCsr, signCsr } from '@ambient/api';
import { CaKeysError, loadOrCreateMeshCa, meshCaFromPluginSecret } from '../../src/ca/ca-keys.ts';
import { silent, startCaCluster, type CaCluster } from './ca-fixture.ts';

interface PluginCa {
  root: string;
  rootKey: string;
  intermediate: string;
  intermediateKey: string;
}

/** A root and an intermediate CA made with openssl (our PKI helpers only make roots and leaves). */
function opensslPluginCa(): PluginCa {
  const dir = mkdtempSync(join(tmpdir(), 'istiod-cacerts-'));
  try {
    const run = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    };
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'root.key');
    run(
      'req',
      '-x509',
      '-new',
      '-key',
      'root.key',
      '-subj',
      '/O=example/CN=example root',
      '-days',
      '30',
      '-out',
      'root.pem',
      '-addext',
      'basicConstraints=critical,CA:true',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'int.key');
    run('req', '-new', '-key', 'int.key', '-subj', '/O=example/CN=cluster-1 intermediate', '-out', 'int.csr');
    writeFileSync(
      join(dir, 'ext.cnf'),
      'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
    );
    run('x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '20', '-extfile', 'ext.cnf', '-out', 'int.pem');
    const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
    // openssl writes SEC1 "EC PRIVATE KEY"; node reads it, so does the signer.
    return { root: read('root.pem'), rootKey: read('root.key'), intermediate: read('int.pem'), intermediateKey: read('int.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('mesh CA keys', function () {
  this.timeout(30_000);
  let cluster: CaCluster;
  let plugin: PluginCa;

  before(async () => {
    cluster = await startCaCluster();
    plugin = opensslPluginCa();
  });
  after(async () => {
    await cluster?.close();
  });

  it('creates istio-ca-secret (and the root namespace) on first start; a second replica gets the same root', async () => {
    const first = await loadOrCreateMeshCa({ kc: cluster.kc, logger: silent, rootNamespace: 'istio-system' });
    assert.equal(first.source, 'istio-ca-secret');
    assert.deepEqual(first.chain, [first.rootCertPem]);
    const secret = await cluster.core.readNamespacedSecret({ namespace: 'istio-system', name: 'istio-ca-secret' });
    assert.equal(Buffer.from(secret.data!['ca-cert.pem']!, 'base64').toString(), first.rootCertPem);
    const root = new X509Certificate(first.rootCertPem);
    assert.ok(root.ca && root.checkIssued(root));
    assert.match(root.subject, /O=cluster\.local/);

    const second = await loadOrCreateMeshCa({ kc: cluster.kc, logger: silent, rootNamespace: 'istio-system' });
    assert.equal(fingerprint(second.rootCertPem), fingerprint(first.rootCertPem));
    assert.equal(second.signer.keyPem, first.signer.keyPem);
  });

  it('does not need create on namespaces when the root namespace exists (a real API server authorizes a create before it looks)', async () => {
    // istiod-lite's identity with what the CA reads and writes, and no create on namespaces.
    const ns = 'rbac-system';
    await cluster.core.createNamespace({ body: { metadata: { name: ns } } });
    await cluster.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'istiod-lite' } } });
    const rbac = cluster.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: { metadata: { name: 'ca-keys-test' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'ca-keys-test' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ca-keys-test' },
        subjects: [{ kind: 'ServiceAccount', name: 'istiod-lite', namespace: ns }],
      },
    });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'ca-keys-test' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'ca-keys-test' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ca-keys-test' },
        subjects: [{ kind: 'ServiceAccount', name: 'istiod-lite', namespace: ns }],
      },
    });
    const { status } = await cluster.core.createNamespacedServiceAccountToken({ namespace: ns, name: 'istiod-lite', body: { spec: { audiences: [] } } });
    const server = cluster.kc.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: server.server, caData: server.caData }],
      users: [{ name: 'istiod-lite', token: status!.token }],
      contexts: [{ name: 'c', cluster: 'c', user: 'istiod-lite' }],
      currentContext: 'c',
    });
    const ca = await loadOrCreateMeshCa({ kc, logger: silent, rootNamespace: ns });
    assert.equal(ca.source, 'istio-ca-secret');
  });

  it('lets replicas starting at the same moment agree on one root', async () => {
    const replicas = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateMeshCa({ kc: cluster.kc, logger: silent, rootNamespace: 'race-system' })));
    assert.equal(new Set(replicas.map((r) => fingerprint(r.rootCertPem))).size, 1);
    const stored = await cluster.core.readNamespacedSecret({ namespace: 'race-system', name: 'istio-ca-secret' });
    assert.equal(Buffer.from(stored.data!['ca-cert.pem']!, 'base64').toString(), replicas[0]!.rootCertPem);
  });

  it('uses a cacerts Secret when present: leaf, intermediate, root', async () => {
    await cluster.core.createNamespace({ body: { metadata: { name: 'plugged' } } });
    await cluster.core.createNamespacedSecret({
      namespace: 'plugged',
      body: {
        metadata: { name: 'cacerts' },
        data: {
          'ca-cert.pem': b64(plugin.intermediate),
          'ca-key.pem': b64(plugin.intermediateKey),
          'root-cert.pem': b64(plugin.root),
          'cert-chain.pem': b64(plugin.intermediate + plugin.root),
        },
      },
    });
    const ca = await loadOrCreateMeshCa({ kc: cluster.kc, logger: silent, rootNamespace: 'plugged' });
    assert.equal(ca.source, 'cacerts');
    assert.deepEqual(ca.chain.map(fingerprint), [fingerprint(plugin.intermediate), fingerprint(plugin.root)]);
    assert.equal(fingerprint(ca.rootCertPem), fingerprint(plugin.root));
    // A leaf signed by it chains to the plug-in root through the intermediate.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const leaf = new X509Certificate(
      signCsr({
        ca: ca.signer,
        validitySeconds: 3600,
        csrPem: createCsr({ keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, uris: ['spiffe://cluster.local/ns/a/sa/b'] }),
      }),
    );
    const intermediate = new X509Certificate(ca.chain[0]!);
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey));
    assert.ok(intermediate.verify(new X509Certificate(ca.rootCertPem).publicKey));
    // No self-signed root was created next to it.
    await assert.rejects(cluster.core.readNamespacedSecret({ namespace: 'plugged', name: 'istio-ca-secret' }), (e: { code?: number }) => e.code === 404);
  });

  it('appends the root when cert-chain.pem is missing', () => {
    const ca = meshCaFromPluginSecret(
      { 'ca-cert.pem': plugin.intermediate, 'ca-key.pem': plugin.intermediateKey, 'root-cert.pem': plugin.root },
      'test/cacerts',
    );
    assert.deepEqual(ca.chain.map(fingerprint), [fingerprint(plugin.intermediate), fingerprint(plugin.root)]);
  });

  it('refuses a cacerts Secret whose key does not match, or whose chain does not reach its root', () => {
    const other = createCertificateAuthority({ commonName: 'other' });
    assert.throws(
      () => meshCaFromPluginSecret({ 'ca-cert.pem': plugin.intermediate, 'ca-key.pem': other.keyPem, 'root-cert.pem': plugin.root }, 'ns/cacerts'),
      (e: Error) => e instanceof CaKeysError && /ns\/cacerts: ca-key\.pem does not match ca-cert\.pem/.test(e.message),
    );
    assert.throws(
      () => meshCaFromPluginSecret({ 'ca-cert.pem': plugin.intermediate, 'ca-key.pem': plugin.intermediateKey, 'root-cert.pem': other.certPem }, 'ns/cacerts'),
      (e: Error) => e instanceof CaKeysError && /certificate chain is broken: .*cluster-1 intermediate.* is not signed by .*CN=other/s.test(e.message),
    );
    assert.throws(
      () => meshCaFromPluginSecret({ 'ca-cert.pem': plugin.intermediate, 'root-cert.pem': plugin.root }, 'ns/cacerts'),
      (e: Error) => e instanceof CaKeysError && /key ca-key\.pem is missing/.test(e.message),
    );
  });

  it('fails loudly on a corrupt istio-ca-secret and leaves it as it is', async () => {
    await cluster.core.createNamespace({ body: { metadata: { name: 'broken-system' } } });
    await cluster.core.createNamespacedSecret({
      namespace: 'broken-system',
      body: { metadata: { name: 'istio-ca-secret' }, data: { 'ca-cert.pem': b64('junk') } },
    });
    await assert.rejects(
      loadOrCreateMeshCa({ kc: cluster.kc, logger: silent, rootNamespace: 'broken-system' }),
      /broken-system\/istio-ca-secret: key ca-key\.pem is missing/,
    );
    const kept = await cluster.core.readNamespacedSecret({ namespace: 'broken-system', name: 'istio-ca-secret' });
    assert.equal(Buffer.from(kept.data!['ca-cert.pem']!, 'base64').toString(), 'junk');
  });
});
