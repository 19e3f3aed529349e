// The mesh on the local cluster: istiod-lite as a control-plane process on the host (it also
// listens on a Unix socket, which node processes reach from any netns), the CNI node agent
// (istio-cni-node) and ztunnel as hostNetwork DaemonSets, as in Kubernetes (deploy/daemonset/).
// The agent chains the mesh's CNI plugin into each node's CNI config, which the kubelet runs for
// every pod, and serves ztunnel the pods on the node-agent socket. The kubelet runs one ztunnel per node
// in the node's netns with the pod-bound `istio-ca` ServiceAccount token its projected volume
// asks for. Waypoint pods (Deployments istiod-lite renders) reach istiod-lite and the root the
// same way as ztunnel: istiod-lite is told so with its --waypoint-* flags; their token is the
// one their Deployment projects, as in a real cluster.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type V1DaemonSet } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { nodeAgentSocketPath, type Cluster, type ControlPlaneProcess } from './cluster.ts';
import { componentCommand } from './components.ts';
import { applyManifests } from './manifests.ts';
import { execInNetns, nodeCniDirs } from './runtime/index.ts';
import { apiWaitMs, dataPlaneWaitMs, probeUntil, watchUntil } from './wait.ts';

export const istiodSocket = (dataDir: string): string => join(dataDir, 'istiod.sock');
export const meshRootCertFile = (dataDir: string): string => join(dataDir, 'mesh-root-cert.pem');

/**
 * How a mesh proxy pod on this cluster reaches istiod-lite and the mesh root: the Unix socket
 * and the file deployZtunnel writes (pods share the host's filesystem, so Kubernetes' mounts
 * are not needed). ztunnel's DaemonSet and the waypoint Deployments get the same values.
 */
export function proxyControlPlaneEnv(dataDir: string): { ISTIOD_ADDRESS: string; ROOT_CERT_FILE: string } {
  return { ISTIOD_ADDRESS: `unix:${istiodSocket(dataDir)}`, ROOT_CERT_FILE: meshRootCertFile(dataDir) };
}

/** istiod-lite as the cluster runs it; ports 15012/15014 on loopback, or ephemeral ones. */
export function istiodProcess(dataDir: string, ephemeralPorts: boolean): ControlPlaneProcess {
  const proxyEnv = proxyControlPlaneEnv(dataDir);
  return {
    name: 'istiod-lite',
    command: [
      ...componentCommand('istiod-lite'),
      '--host',
      '127.0.0.1',
      '--install-crds',
      '--grpc-port',
      ephemeralPorts ? '0' : '15012',
      '--metrics-port',
      ephemeralPorts ? '0' : '15014',
      // The sidecar injection webhook; the API server (on the host) calls it on loopback.
      '--webhook-port',
      ephemeralPorts ? '0' : '15017',
      '--webhook-url-host',
      '127.0.0.1',
      '--uds',
      istiodSocket(dataDir),
      '--waypoint-istiod-address',
      proxyEnv.ISTIOD_ADDRESS,
      '--waypoint-root-cert-file',
      proxyEnv.ROOT_CERT_FILE,
      '--log-level',
      process.env.LOG_LEVEL ?? 'warn',
    ],
    readyLine: /"msg":"ready"/,
  };
}

/** Where ztunnel's DaemonSet mounts its projected token, as deploy/daemonset/ztunnel.yaml. */
const ztunnelTokenDir = '/var/run/secrets/tokens';

export function ztunnelDaemonSet(dataDir: string, opts: { certTtlSeconds?: number } = {}): V1DaemonSet {
  const proxyEnv = proxyControlPlaneEnv(dataDir);
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ztunnel', namespace: 'istio-system', labels: { app: 'ztunnel' } },
    spec: {
      selector: { matchLabels: { app: 'ztunnel' } },
      template: {
        metadata: { labels: { app: 'ztunnel', 'istio.io/dataplane-mode': 'none' } },
        spec: {
          hostNetwork: true,
          serviceAccountName: 'ztunnel',
          containers: [
            {
              name: 'istio-proxy',
              image: 'ambient/ztunnel:local',
              command: componentCommand('ztunnel'),
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'NODE_AGENT_SOCKET', value: nodeAgentSocketPath(dataDir, '$(NODE_NAME)') },
                { name: 'ISTIOD_ADDRESS', value: proxyEnv.ISTIOD_ADDRESS },
                { name: 'ROOT_CERT_FILE', value: proxyEnv.ROOT_CERT_FILE },
                // The path it has in Kubernetes: the kubelet maps it to the file it writes.
                { name: 'AMBIENT_SA_TOKEN_FILE', value: `${ztunnelTokenDir}/istio-token` },
                { name: 'LOG_LEVEL', value: process.env.LOG_LEVEL ?? 'info' },
                ...(opts.certTtlSeconds ? [{ name: 'CERT_TTL_SECONDS', value: String(opts.certTtlSeconds) }] : []),
              ],
              volumeMounts: [{ name: 'istio-token', mountPath: ztunnelTokenDir }],
            },
          ],
          // The mesh CA's audience: istiod-lite reviews tokens for istio-ca only (--token-audiences).
          volumes: [
            { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { path: 'istio-token', expirationSeconds: 43200, audience: 'istio-ca' } }] } },
          ],
        },
      },
    },
  };
}

/**
 * The CNI node agent as deploy/daemonset/istio-cni-node.yaml runs it, with each node's CNI
 * directories where this cluster keeps them. Pods here cannot reach the API server, so the
 * agent works from the CNI calls (they carry the pod's uid), its state file and the kubelet's
 * CNI result cache (pods attached before the agent).
 */
export function cniNodeDaemonSet(dataDir: string): V1DaemonSet {
  const dirs = nodeCniDirs(dataDir, '$(NODE_NAME)');
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'istio-cni-node', namespace: 'istio-system', labels: { app: 'istio-cni-node' } },
    spec: {
      selector: { matchLabels: { app: 'istio-cni-node' } },
      template: {
        metadata: { labels: { app: 'istio-cni-node', 'istio.io/dataplane-mode': 'none' } },
        spec: {
          hostNetwork: true,
          serviceAccountName: 'istio-cni',
          containers: [
            {
              name: 'install-cni',
              image: 'ambient/cni:local',
              command: componentCommand('cni'),
              args: [
                `--cni-conf-dir=${dirs.confDir}`,
                `--cni-bin-dir=${dirs.binDir}`,
                `--run-dir=${dirs.agentRunDir}`,
                `--node-agent-socket=${nodeAgentSocketPath(dataDir, '$(NODE_NAME)')}`,
                '--netns-dir=/run/netns',
                `--cni-cache-dir=${dirs.cacheDir}`,
              ],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'LOG_LEVEL', value: process.env.LOG_LEVEL ?? 'info' },
              ],
            },
          ],
        },
      },
    },
  };
}

/** Readiness is only visible inside the node (a port on the node's loopback): probed there. */
async function probeNodes(cluster: Cluster, what: (node: string) => string, url: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  for (const node of cluster.nodes) {
    await probeUntil({ what: what(node.net.name), timeoutMs, signal }, async () => {
      const r = await execInNetns(
        node.net.netns,
        [process.execPath, '-e', `fetch(${JSON.stringify(url)}).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
        { timeoutMs: 10_000, signal },
      );
      return r.code === 0;
    });
  }
}

/** Deploys the CNI node agent and waits until every node's agent has chained its plugin. */
export async function deployCniAgent(cluster: Cluster, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const signal = opts.signal ?? new AbortController().signal;
  await applyManifests(
    cluster.kubeConfig,
    [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'istio-cni', namespace: 'istio-system' } }, cniNodeDaemonSet(cluster.dataDir)],
    'local-cluster',
  );
  await probeNodes(
    cluster,
    (n) => `the CNI agent on ${n} to answer ready on 8000 (see kubectl logs -n istio-system -l app=istio-cni-node)`,
    'http://127.0.0.1:8000/readyz',
    opts.timeoutMs ?? dataPlaneWaitMs,
    signal,
  );
}

/** Deploys the CNI node agent and ztunnel, and waits until every node's ztunnel answers ready. */
export async function deployZtunnel(
  cluster: Cluster,
  opts: { timeoutMs?: number; certTtlSeconds?: number; signal?: AbortSignal; logger?: Logger } = {},
): Promise<void> {
  const signal = opts.signal ?? new AbortController().signal;
  const logger = opts.logger ?? pino({ level: 'silent' });
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  // The root istiod-lite publishes, where ztunnel reads it (Kubernetes would mount the ConfigMap).
  const [cm] = await watchUntil(
    cluster.kubeConfig,
    logger,
    {
      what: 'istiod-lite to publish istio-ca-root-cert in istio-system',
      timeoutMs: opts.timeoutMs ?? apiWaitMs,
      signal,
      path: '/api/v1/namespaces/istio-system/configmaps',
      list: () => core.listNamespacedConfigMap({ namespace: 'istio-system', fieldSelector: 'metadata.name=istio-ca-root-cert' }),
    },
    (cms) => cms.some((c) => c.metadata?.name === 'istio-ca-root-cert' && c.data?.['root-cert.pem']),
  );
  writeFileSync(meshRootCertFile(cluster.dataDir), cm!.data!['root-cert.pem']!);
  await deployCniAgent(cluster, { ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), signal });
  await applyManifests(
    cluster.kubeConfig,
    [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ztunnel', namespace: 'istio-system' } }, ztunnelDaemonSet(cluster.dataDir, opts)],
    'local-cluster',
  );
  await probeNodes(
    cluster,
    (n) => `ztunnel on ${n} to answer ready on 15021 (see kubectl logs -n istio-system)`,
    'http://127.0.0.1:15021/healthz/ready',
    opts.timeoutMs ?? dataPlaneWaitMs,
    signal,
  );
}
