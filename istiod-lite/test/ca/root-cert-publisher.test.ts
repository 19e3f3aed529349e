import { createCertificateAuthority } from '@ambient/api';
import { ROOT_CERT_CONFIGMAP, RootCertPublisher } from '../../src/ca/root-cert-publisher.ts';
import { eventually, silent, startCaCluster, type CaCluster } from './ca-fixture.ts';

describe('root cert publisher', function () {
  this.timeout(30_000);
  let cluster: CaCluster;
  let publisher: RootCertPublisher | undefined;
  const root = createCertificateAuthority({ commonName: 'cluster.local' }).certPem;

  before(async () => {
    cluster = await startCaCluster();
  });
  after(async () => {
    await publisher?.stop();
    await cluster?.close();
  });

  async function published(namespace: string): Promise<string | undefined> {
    try {
      const cm = await cluster.core.readNamespacedConfigMap({ namespace, name: ROOT_CERT_CONFIGMAP });
      return cm.metadata?.labels?.['istio.io/config'] === 'true' ? cm.data?.['root-cert.pem'] : undefined;
    } catch {
      return undefined;
    }
  }

  it('publishes istio-ca-root-cert into existing and newly created namespaces', async () => {
    await cluster.core.createNamespace({ body: { metadata: { name: 'before' } } });
    publisher = new RootCertPublisher({ kc: cluster.kc, rootCertPem: root, logger: silent });
    await publisher.start();
    for (const ns of ['default', 'kube-system', 'before']) {
      await eventually(`${ROOT_CERT_CONFIGMAP} in ${ns}`, async () => (await published(ns)) === root);
    }
    await cluster.core.createNamespace({ body: { metadata: { name: 'after' } } });
    await eventually(`${ROOT_CERT_CONFIGMAP} in the new namespace`, async () => (await published('after')) === root);
  });

  it('puts back a deleted or edited ConfigMap', async () => {
    await cluster.core.deleteNamespacedConfigMap({ namespace: 'before', name: ROOT_CERT_CONFIGMAP });
    await eventually('the deleted configmap to come back', async () => (await published('before')) === root);
    await cluster.core.replaceNamespacedConfigMap({
      namespace: 'after',
      name: ROOT_CERT_CONFIGMAP,
      body: { metadata: { name: ROOT_CERT_CONFIGMAP, namespace: 'after' }, data: { 'root-cert.pem': 'tampered' } },
    });
    await eventually('the edited configmap to be restored', async () => (await published('after')) === root);
  });

  it('republishes a new root everywhere', async () => {
    const rotated = createCertificateAuthority({ commonName: 'cluster.local' }).certPem;
    publisher!.setRootCert(rotated);
    for (const ns of ['default', 'before', 'after']) {
      await eventually(`the new root in ${ns}`, async () => (await published(ns)) === rotated);
    }
  });
});
