// The embedded Kubernetes API server: composition root. Loads (or creates) the data
// directory's PKI, admin token, signing key and store, bootstraps the default namespaces,
// and serves HTTPS.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import type { Logger } from 'pino';
import { builtinResources } from '../apimachinery/builtin-resources.ts';
import { KUBERNETES_SERVICE_IP } from './cluster-ip-allocator.ts';
import { ApiHandler } from './http-handler.ts';
import { keyId } from './jwt.ts';
import { DEFAULT_PROTOBUF_SCHEMA_SOURCE, protobufSchemaLoader } from './protobuf-schema-loader.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { ResourceRegistry } from './resource-registry.ts';
import { RBAC_GROUP } from './rbac-authorizer.ts';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './rbac-bootstrap-policy.ts';
import { RestStorage } from './rest-storage.ts';
import type { SigningKey } from './service-account-tokens.ts';
import { Store } from './store.ts';

export { Store } from './store.ts';
export { RestStorage } from './rest-storage.ts';

export interface ApiServerOptions {
  dataDir: string; // state + pki + kubeconfig live here; created if missing
  host?: string; // default '127.0.0.1'
  port?: number; // default 6443; 0 = ephemeral (tests)
  logger?: Logger;
  /** A kubectl binary to read Kubernetes' protobuf message definitions from (default: the one scripts/fetch-kubectl.sh caches). */
  protobufSchemaSource?: string;
}

export interface ApiServer {
  url: string; // https://127.0.0.1:<port>
  kubeconfigPath: string; // <dataDir>/kubeconfig, context 'local-cluster', user 'admin' (bearer token)
  adminToken: string;
  caCertPem: string;
  store: Store; // in-process access for the cluster's own controllers/tests
  close(): Promise<void>; // stops listening, ends watches, flushes the store
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const dir = opts.dataDir;
  mkdirSync(join(dir, 'pki'), { recursive: true, mode: 0o700 });
  const host = opts.host ?? '127.0.0.1';
  const ca = readOrCreate(join(dir, 'pki', 'ca.json'), () =>
    JSON.stringify(createCertificateAuthority({ commonName: 'local-cluster-ca', validityDays: 3650 })),
  );
  const caPair = JSON.parse(ca) as { certPem: string; keyPem: string };
  const serving = JSON.parse(
    readOrCreate(join(dir, 'pki', 'apiserver.json'), () =>
      JSON.stringify(
        issueCertificate({
          ca: caPair,
          commonName: 'kube-apiserver',
          dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
          ipAddresses: ['127.0.0.1', KUBERNETES_SERVICE_IP],
          validityDays: 3650,
        }),
      ),
    ),
  ) as { certPem: string; keyPem: string };
  const adminToken = readOrCreate(join(dir, 'admin-token'), () => randomBytes(32).toString('base64url')).trim();
  const saKeyPem = readOrCreate(
    join(dir, 'pki', 'service-account.key'),
    () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  );
  const privateKey = createPrivateKey(saKeyPem);
  const publicKey = createPublicKey(privateKey);
  const signingKey: SigningKey = { privateKey, publicKey, kid: keyId(publicKey) };

  const store = new Store({ dir: join(dir, 'store'), durability: 'group-commit', logger: opts.logger });
  const registry = new ResourceRegistry(builtinResources);
  const storage = new RestStorage(store, registry, { caCertPem: caPair.certPem });
  bootstrap(storage);

  const statePath = join(dir, 'apiserver.json');
  const previousPort = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as { port?: number }).port : undefined;
  const wantedPort = opts.port ?? previousPort ?? 6443;

  let url = '';
  const handler = new ApiHandler({
    storage,
    adminToken,
    signingKey,
    dataDir: dir,
    serverAddress: () => new URL(url).host,
    logger: opts.logger,
    protobufSchema: protobufSchemaLoader(opts.protobufSchemaSource ?? DEFAULT_PROTOBUF_SCHEMA_SOURCE),
  });
  const server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: caPair.certPem }, handler.handle);
  server.on('upgrade', handler.upgrade);
  server.keepAliveTimeout = 60_000;
  // closeAllConnections() misses sockets still in their TLS handshake, which would keep
  // close() waiting forever: track the raw sockets and destroy them all on close.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  try {
    await listen(server, wantedPort, host);
  } catch (err) {
    store.close();
    throw new Error(`cannot listen on ${host}:${wantedPort}: ${(err as Error).message}`, { cause: err });
  }
  const port = (server.address() as AddressInfo).port;
  url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  writeFileSync(statePath, JSON.stringify({ port }) + '\n');
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, renderKubeconfig({ server: url, caCertPem: caPair.certPem, token: adminToken }), { mode: 0o600 });
  opts.logger?.info({ url, kubeconfig: kubeconfigPath }, 'api server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    kubeconfigPath,
    adminToken,
    caCertPem: caPair.certPem,
    store,
    close() {
      closing ??= new Promise<void>((resolve) => {
        handler.closeStreams();
        server.close(() => {
          store.close();
          resolve();
        });
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/** The namespaces, the `kubernetes` Service and the default RBAC policy every cluster starts with. */
function bootstrap(storage: RestStorage): void {
  const reg = storage.registry;
  for (const [plural, objects] of [
    ['clusterroles', bootstrapClusterRoles],
    ['clusterrolebindings', bootstrapClusterRoleBindings],
  ] as const) {
    const r = reg.lookup(RBAC_GROUP, 'v1', plural)!;
    for (const obj of objects) if (!storage.store.get(`${RBAC_GROUP}/${plural}`, '', obj.metadata.name ?? '')) storage.create(r, '', structuredClone(obj));
  }
  const namespaces = reg.lookup('', 'v1', 'namespaces')!;
  for (const ns of SYSTEM_NAMESPACES) {
    if (!storage.store.get('/namespaces', '', ns)) storage.create(namespaces, '', { metadata: { name: ns } });
  }
  if (!storage.store.get('/services', 'default', 'kubernetes')) {
    storage.create(reg.lookup('', 'v1', 'services')!, 'default', {
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', clusterIP: KUBERNETES_SERVICE_IP, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
    });
  }
}

function readOrCreate(path: string, create: () => string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8');
  const value = create();
  writeFileSync(path, value, { mode: 0o600 });
  return value;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
