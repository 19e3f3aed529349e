// The waypoint end to end on the local cluster (real namespaces, iptables, TLS): istiod-lite
// renders the waypoint Deployment for a Gateway, the pod runs `ambient-waypoint`, the client's
// ztunnel sends service traffic to it over HBONE, and it routes, retries, times out, mirrors
// and authorizes per request before sending each one over HBONE to the chosen pod's ztunnel.
// Counts are measured by the backends (`/stats`) and read from the waypoint's own metrics.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { startCluster, type Cluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess } from '@ambient/local-cluster/mesh';
import { execInNetns, podNetns } from '@ambient/local-cluster/runtime';

const repo = resolve(import.meta.dirname, '../..');
const echo = join(repo, 'examples/echo/echo.ts');
const kubectlBin = join(repo, '.cache/kubectl/v1.34/kubectl');
const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const reviews = 'reviews.shop.svc.cluster.local';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(300);
  }
}

const echoContainer = (version: string) => ({
  name: 'echo',
  image: 'ambient/echo:local',
  command: [process.execPath, echo, 'serve', '--port', '8080', '--grpc-port', '9090'],
  ports: [
    { name: 'http', containerPort: 8080 },
    { name: 'grpc', containerPort: 9090 },
  ],
  env: [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'VERSION', value: version },
  ],
});
const deployment = (version: string, node: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: `reviews-${version}`, namespace: 'shop' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'reviews', version } },
    template: {
      metadata: { labels: { app: 'reviews', version } },
      spec: { serviceAccountName: 'reviews', nodeName: node, containers: [echoContainer(version)] },
    },
  },
});
const service = (name: string, selector: Record<string, string>, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop', labels },
  spec: {
    selector,
    ports: [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'grpc', port: 9090, targetPort: 9090, appProtocol: 'grpc' },
    ],
  },
});
const manifests = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
  ...['client', 'reviews', 'intruder'].map((sa) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: 'shop' } })),
  deployment('v1', 'node-2'),
  deployment('v2', 'node-2'),
  service('reviews', { app: 'reviews' }, { 'istio.io/use-waypoint': 'waypoint' }),
  service('reviews-v1', { app: 'reviews', version: 'v1' }),
  service('reviews-v2', { app: 'reviews', version: 'v2' }),
  ...['client', 'intruder'].map((name) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app: name } },
    spec: { nodeName: 'node-1', serviceAccountName: name, containers: [{ ...echoContainer(''), name }] },
  })),
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'shop' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  },
];

interface Summary {
  sent: number;
  byStatus: Record<string, number>;
  byVersion: Record<string, number>;
  errors: number;
  p50Ms: number | null;
}

describe('waypoint on the local cluster (L7 policy for a Service)', function () {
  this.timeout(180_000);
  let dataDir: string;
  let cluster: Cluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;

  const pod = (name: string): Promise<V1Pod> => core.readNamespacedPod({ name, namespace: 'shop' });
  const inPod = async (p: V1Pod, argv: string[], timeoutMs = 60_000) => execInNetns(podNetns(cluster.network.clusterId, p.metadata!.uid!), argv, { timeoutMs });
  /** The unmodified client: the echo app's `call` inside the client pod. */
  const call = async (url: string, flags: string[] = [], from = 'client'): Promise<{ ok: boolean; lines: any[]; output: string }> => {
    const r = await inPod(await pod(from), [process.execPath, echo, 'call', url, '--timeout', '5000', ...flags], 170_000);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return { ok: r.code === 0, lines, output: r.stdout + r.stderr };
  };
  const summary = async (url: string, flags: string[] = []): Promise<Summary> => {
    const r = await call(url, [...flags, '--summary']);
    const s = r.lines.at(-1) as Summary | undefined;
    assert.ok(s && typeof s.sent === 'number', r.output);
    return s;
  };
  const waypointPod = async (): Promise<V1Pod> => {
    const pods = (await core.listNamespacedPod({ namespace: 'shop', labelSelector: 'gateway.networking.k8s.io/gateway-name=waypoint' })).items;
    const running = pods.find((p) => p.status?.phase === 'Running' && p.status.podIP);
    assert.ok(running, `no running waypoint pod: ${JSON.stringify(pods.map((p) => p.status))}`);
    return running;
  };
  const fetchInWaypoint = async (url: string): Promise<{ code: number; body: string }> => {
    const r = await inPod(
      await waypointPod(),
      [
        process.execPath,
        '-e',
        `fetch(${JSON.stringify(url)}).then(async r => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1) }, () => process.exit(2))`,
      ],
      10_000,
    );
    return { code: r.code ?? -1, body: r.stdout };
  };
  const metrics = async (): Promise<string> => (await fetchInWaypoint('http://127.0.0.1:15020/metrics')).body;
  /** The sum of a metric's samples whose labels contain every given pair. */
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    let total = 0;
    for (const line of (await metrics()).split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  };
  /** Requests the backend pods have served under a path prefix, from their own /stats. */
  const served = async (version: string, segment: string): Promise<number> => {
    const r = await call(`http://reviews-${version}.shop.svc.cluster.local/stats`);
    return r.lines[0]?.body?.byPath?.[segment] ?? 0;
  };
  const resetStats = async (): Promise<void> => {
    for (const v of ['v1', 'v2']) assert.ok((await call(`http://reviews-${v}.shop.svc.cluster.local/stats/reset`, ['--method', 'POST'])).ok);
  };
  const createRoute = async (kind: 'httproutes' | 'grpcroutes', name: string, spec: object): Promise<void> => {
    await custom.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: 'shop',
      plural: kind,
      body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: kind === 'httproutes' ? 'HTTPRoute' : 'GRPCRoute', metadata: { name }, spec },
    });
  };
  const deleteRoute = (kind: 'httproutes' | 'grpcroutes', name: string) =>
    custom.deleteNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'shop', plural: kind, name });
  const reviewsParent = (port = 80) => [{ group: '', kind: 'Service', name: 'reviews', port }];
  /** Waits until a request shows the waypoint applies a config change (pushes are asynchronous). */
  const untilReply = (what: string, url: string, flags: string[], test: (lines: any[]) => boolean) =>
    until(what, async () => {
      const r = await call(url, flags);
      return test(r.lines) ? r : undefined;
    });

  before(async () => {
    if (!process.env.PATH?.includes('.cache/kubectl')) process.env.PATH = `${join(repo, '.cache/kubectl/v1.34')}:${process.env.PATH}`;
    dataDir = mkdtempSync(join(tmpdir(), 'waypoint-e2e-'));
    cluster = await startCluster({ dataDir, nodes: 2, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    await deployZtunnel(cluster);
    await applyManifests(cluster.kubeConfig, manifests as never, 'e2e');
    await until(
      'all pods running',
      async () => {
        const all = (await core.listNamespacedPod({ namespace: 'shop' })).items;
        return all.length === 5 && all.every((p) => p.status?.phase === 'Running' && p.status.podIP);
      },
      60_000,
    );
  });

  after(async () => {
    await cluster?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the waypoint for the Gateway: Programmed, ready on 15021', async () => {
    const gw = await until('the waypoint Gateway to be Programmed', async () => {
      const g = (await custom.getNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: 'shop',
        plural: 'gateways',
        name: 'waypoint',
      })) as any;
      return g.status?.conditions?.find((c: any) => c.type === 'Programmed' && c.status === 'True') ? g : undefined;
    });
    assert.ok(gw.status.addresses?.[0]?.value, 'the Gateway shows its address');
    await until('the waypoint to answer ready', async () => (await fetchInWaypoint('http://127.0.0.1:15021/healthz/ready')).code === 0, 60_000).catch(
      async (err) => {
        const pods = (await core.listNamespacedPod({ namespace: 'shop', labelSelector: 'gateway.networking.k8s.io/gateway-name=waypoint' })).items;
        const logs = await Promise.all(
          pods.flatMap((p) =>
            [true, false].map((previous) => core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: 'shop', previous }).catch((e) => String(e))),
          ),
        );
        throw new Error(`${(err as Error).message}\nwaypoint logs:\n${logs.join('\n').slice(-3000)}`);
      },
    );
    const dump = JSON.parse((await fetchInWaypoint('http://127.0.0.1:15000/config_dump')).body);
    assert.equal(dump.identity, 'spiffe://cluster.local/ns/shop/sa/waypoint');
    assert.deepEqual(
      dump.config.services.map((s: any) => s.hostname),
      [reviews],
    );
  });

  it('carries the Service traffic through the waypoint: both versions answer, counted with reporter="waypoint"', async () => {
    const before = await metric('istio_requests_total', { reporter: 'waypoint', destination_service: reviews, response_code: '200' });
    const s = await summary(`http://${reviews}/hello`, ['--count', '20']);
    assert.equal(s.byStatus['200'], 20, JSON.stringify(s));
    assert.ok((s.byVersion.v1 ?? 0) > 0 && (s.byVersion.v2 ?? 0) > 0, `both versions answer: ${JSON.stringify(s.byVersion)}`);
    const after = await until('the waypoint to count the requests', async () => {
      const n = await metric('istio_requests_total', {
        reporter: 'waypoint',
        destination_service: reviews,
        response_code: '200',
        source_principal: 'spiffe://cluster.local/ns/shop/sa/client',
      });
      return n - before >= 20 ? n : undefined;
    });
    assert.ok(after - before >= 20);
  });
});

export { kubectlBin, run };
