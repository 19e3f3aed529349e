// `kubectl ambient` end to end: every subcommand run as a kubectl plugin (cli/bin/kubectl-ambient,
// through the real kubectl 1.34) against a 2-node local cluster with istiod-lite and ztunnel.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { load as loadYaml } from 'js-yaml';
import pino from 'pino';
import { startCluster, type Cluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess } from '@ambient/local-cluster/mesh';
import { execInNetns, podNetns } from '@ambient/local-cluster/runtime';
import { until } from '@ambient/tests';

const repo = resolve(import.meta.dirname, '../..');
const echo = join(repo, 'examples/echo/echo.ts');
const kubectl = join(repo, '.cache/kubectl/v1.34/kubectl'); // scripts/fetch-kubectl.sh
const pluginDir = join(repo, 'cli/bin');

const app = (name: string, node: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels: { app: name } },
  spec: {
    nodeName: node,
    containers: [
      { name, image: 'ambient/echo:local', command: [process.execPath, echo, 'serve', '--port', '8080'], ports: [{ name: 'http', containerPort: 8080 }] },
    ],
  },
});
const manifests = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
  app('front', 'node-1'),
  app('cart', 'node-2'),
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'cart', namespace: 'shop' },
    spec: { selector: { app: 'cart' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'cart-from-shop', namespace: 'shop' },
    spec: { selector: { matchLabels: { app: 'cart' } }, action: 'ALLOW', rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] },
  },
];

describe('kubectl ambient against the local cluster with the mesh', function () {
  this.timeout(120_000);
  let dataDir: string;
  let cluster: Cluster;
  let core: CoreV1Api;

  /** `kubectl ambient <args>`: kubectl finds the plugin on PATH, as a user's would. */
  const ambient = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((done) =>
      execFile(
        kubectl,
        ['ambient', '--kubeconfig', cluster.api.kubeconfigPath, ...args],
        { env: { PATH: `${pluginDir}:${process.env.PATH}`, HOME: dataDir }, timeout: 60_000, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const ok = async (...args: string[]): Promise<string> => {
    const r = await ambient(...args);
    assert.equal(r.code, 0, `kubectl ambient ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const ztunnelOn = async (node: string): Promise<V1Pod> =>
    (await core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=ztunnel' })).items.find((p) => p.spec?.nodeName === node)!;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'kubectl-ambient-e2e-'));
    cluster = await startCluster({ dataDir, nodes: 2, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await applyManifests(cluster.kubeConfig, manifests as never, 'e2e');
    await deployZtunnel(cluster, {});
    await until(
      'both shop pods captured',
      async () => {
        const rows = JSON.parse(await ok('connections', '-o', 'json')) as { workload: string }[];
        return ['cart', 'front'].every((w) => rows.some((r) => r.workload === w));
      },
      60_000,
      500,
    );
  });

  after(async () => {
    await cluster?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("lists workloads, services and policies as each node's ztunnel holds them", async () => {
    const workloads = await ok('workloads', '-n', 'shop');
    assert.match(workloads, /^NODE\s+NAMESPACE\s+NAME\s+ADDRESS\s+WORKLOAD NODE\s+WAYPOINT\s+PROTOCOL\s+IDENTITY\n/);
    for (const node of ['node-1', 'node-2']) {
      assert.match(
        workloads,
        new RegExp(`^${node}\\s+shop\\s+cart\\s+10\\.244\\.2\\.\\d+\\s+node-2\\s+-\\s+HBONE\\s+spiffe://cluster.local/ns/shop/sa/default$`, 'm'),
      );
    }
    const services = JSON.parse(await ok('services', '-n', 'shop', '-o', 'json')) as Record<string, string>[];
    assert.deepEqual(
      services.map((s) => [s.node, s.name, s.endpoints]),
      [
        ['node-1', 'cart', '1/1'],
        ['node-2', 'cart', '1/1'],
      ],
    );
    assert.match(await ok('policies', '--node', 'node-2'), /^node-2\s+shop\s+cart-from-shop\s+ALLOW\s+WORKLOAD_SELECTOR$/m);
  });

  it('shows each node its own certificates and captured pods, and valid certificates', async () => {
    const certs = loadYaml(await ok('certificates', '--node', 'node-1', '-o', 'yaml')) as Record<string, string>[];
    const leaf = certs.find((c) => c.type === 'Leaf');
    assert.deepEqual([leaf?.node, leaf?.name, leaf?.status, leaf?.valid], ['node-1', 'spiffe://cluster.local/ns/shop/sa/default', 'Available', 'true']);
    const connections = await ok('connections');
    assert.match(connections, /^node-1\s+shop\s+front\s+10\.244\.1\.\d+\s+0\s+0\s+0$/m);
    assert.match(connections, /^node-2\s+shop\s+cart\s+10\.244\.2\.\d+\s+0\s+0\s+0$/m);
  });

  it('applies a waypoint, waits until it is programmed, lists it, shows its status, deletes it', async () => {
    const applied = await ok('waypoint', 'apply', '-n', 'shop', '--enroll-namespace', '--wait', '--timeout', '90');
    assert.match(applied, /waypoint shop\/waypoint applied\nnamespace shop labelled istio.io\/use-waypoint=waypoint\nwaypoint shop\/waypoint programmed\n/);
    assert.match(await ok('waypoint', 'list', '-n', 'shop'), /^shop\s+waypoint\s+service\s+True\s+\S+$/m);
    const status = await ok('waypoint', 'status', 'waypoint', '-n', 'shop');
    assert.match(status, /^shop\s+waypoint\s+Programmed\s+True\s/m);
    assert.match((await ambient('waypoint', 'status', 'nope', '-n', 'shop')).stderr, /no waypoint "nope" in namespace shop/);

    // top: 20 calls a second from front to cart, now through the waypoint, for up to 30 s.
    const front = await core.readNamespacedPod({ name: 'front', namespace: 'shop' });
    const calls = execInNetns(
      podNetns(cluster.network.clusterId, front.metadata!.uid!),
      [process.execPath, echo, 'call', 'http://cart.shop/', '--count', '600', '--rate', '20', '--timeout', '3000'],
      {
        timeoutMs: 40_000,
      },
    );
    type Signals = { service: string; rps: number; successRate?: number; p50Ms?: number; p99Ms?: number };
    const cart = await until(
      'top to show cart traffic through the waypoint',
      async () => {
        const rows = JSON.parse(await ok('top', '-n', 'shop', '--interval', '2', '--iterations', '1', '-o', 'json')) as Signals[];
        return rows.find((r) => r.service === 'cart.shop.svc.cluster.local' && r.rps > 5);
      },
      30_000,
      100,
    );
    assert.equal(cart.successRate, 1);
    assert.ok(cart.p50Ms! > 0 && cart.p99Ms! >= cart.p50Ms!, JSON.stringify(cart));
    assert.match(
      await ok('top', '-n', 'shop', '--interval', '1', '--iterations', '1'),
      /^SERVICE\s+RPS\s+SUCCESS\s+P50 MS\s+P99 MS\s+TCP CONN\/S\s+TCP BYTES\/S\ncart\.shop\.svc\.cluster\.local\s+\d+\.\d\s+100\.0%/m,
    );
    assert.equal((await calls).code, 0, 'every call was answered');
    assert.match(await ok('waypoint', 'delete', 'waypoint', '-n', 'shop'), /waypoint shop\/waypoint deleted/);
    await core.patchNamespace({ name: 'shop', body: [{ op: 'remove', path: '/metadata/labels/istio.io~1use-waypoint' }] });
  });

  it('checks the installation, and finds a ztunnel that stopped answering', async () => {
    const healthy = await ambient('check');
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    for (const line of [
      /^✔ the mesh CRDs are installed$/m,
      /^✔ istiod-lite holds the leader lease/m,
      /^✔ ztunnel on node node-1 is ready and answers its admin port$/m,
      /^✔ ztunnel on node node-2 is ready and answers its admin port$/m,
      /^✔ the CNI node agent on node node-1 is ready/m,
      /^✔ the CNI node agent on node node-2 is ready/m,
      /^✔ ztunnels' workload certificates are valid — 2 valid; the earliest expires in/m,
      /^✔ HBONE port 15008 is reachable from node-1 to node-2/m,
      /^✔ namespace shop: its pods are captured by ztunnel — 2 of 2$/m,
      /^all \d+ checks passed$/m,
    ]) {
      assert.match(healthy.stdout, line);
    }
    // A hung ztunnel (SIGSTOP: alive, but answering nothing) on node-2.
    const pid = Number(/^local:\/\/(\d+)$/.exec((await ztunnelOn('node-2')).status!.containerStatuses![0]!.containerID!)![1]);
    process.kill(pid, 'SIGSTOP');
    try {
      const broken = await ambient('check');
      assert.equal(broken.code, 1, broken.stdout);
      assert.match(
        broken.stdout,
        /^✘ ztunnel on node node-2 is ready and answers its admin port — istio-system\/ztunnel-\w+ port 15021\/healthz\/ready: no answer within \d+ ms\n {4}hint: see 'kubectl -n istio-system logs/m,
      );
      assert.match(broken.stdout, /^✘ namespace shop: its pods are captured by ztunnel — 1 of 2; unknown, their ztunnel did not answer: cart \(node-2\)$/m);
      assert.match(broken.stdout, /^✔ ztunnel on node node-1 is ready/m);
      assert.match(broken.stdout, /^\d+ of \d+ checks failed$/m);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('analyzes the policy surprises users trip over, each with its object and a fix', async () => {
    await applyManifests(
      cluster.kubeConfig,
      [
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: 'surprises', labels: { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'gone' } },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'orders', namespace: 'surprises' },
          spec: { selector: { app: 'orders' }, ports: [{ port: 80 }] },
        },
        // An ALLOW policy ztunnel enforces on traffic that arrives from a waypoint it does not admit.
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: 'locked', labels: { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' } },
        },
        {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'Gateway',
          metadata: { name: 'waypoint', namespace: 'locked' },
          spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
        },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'vault', namespace: 'locked' }, spec: { selector: { app: 'vault' }, ports: [{ port: 80 }] } },
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'only-shop', namespace: 'locked' },
          spec: { action: 'ALLOW', rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] },
        },
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'get-only', namespace: 'surprises' },
          spec: { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
        },
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'orders-l7', namespace: 'surprises' },
          spec: { targetRefs: [{ kind: 'Service', group: '', name: 'orders-typo' }], action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] },
        },
        {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'orders', namespace: 'surprises' },
          spec: { parentRefs: [{ kind: 'Service', group: '', name: 'order' }], rules: [{ backendRefs: [{ name: 'orders-v2', port: 80 }] }] },
        },
      ] as never,
      'e2e',
    );
    const r = await ambient('analyze', '-n', 'surprises');
    assert.equal(r.code, 1, 'errors found exit 1');
    for (const line of [
      /^Error \[AMB0002\] \(Namespace surprises\) .*no waypoint surprises\/gone exists.*\n {4}fix: .*kubectl ambient waypoint apply -n surprises --name gone/m,
      /^Error \[AMB0003\] \(AuthorizationPolicy surprises\/get-only\) .*\n {4}fix: /m,
      /^Error \[AMB0004\] \(AuthorizationPolicy surprises\/orders-l7\) .*orders-typo/m,
      /^Error \[AMB0005\] \(HTTPRoute surprises\/orders\) .*order\b/m,
      /^Error \[AMB0006\] \(HTTPRoute surprises\/orders\) .*orders-v2/m,
    ]) {
      assert.match(r.stdout, line);
    }
    const json = JSON.parse(await ambient('analyze', '-n', 'surprises', '-o', 'json').then((x) => x.stdout)) as { code: string }[];
    assert.deepEqual([...new Set(json.map((f) => f.code))].sort(), ['AMB0002', 'AMB0003', 'AMB0004', 'AMB0005', 'AMB0006']);
    const locked = await ambient('analyze', '-n', 'locked');
    assert.match(locked.stdout, /^Error \[AMB0001\] \(AuthorizationPolicy locked\/only-shop\) .*cluster\.local\/ns\/locked\/sa\/waypoint.*\n {4}fix: /m);
    // -A: every namespace's findings.
    const all = JSON.parse((await ambient('analyze', '-A', '-o', 'json')).stdout) as { code: string }[];
    assert.ok(all.some((f) => f.code === 'AMB0001') && all.some((f) => f.code === 'AMB0005'));
    // shop (no surprises) is clean.
    assert.equal(await ok('analyze', '-n', 'shop'), '✔ no problems found\n');
  });

  it('refuses bad flags with a clear error, and reads a forwarded admin port only for one node', async () => {
    const bad = await ambient('workloads', '-o', 'xml');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are table, json, yaml/);
    const two = await ambient('workloads', '--admin-address', '127.0.0.1:1');
    assert.match(two.stderr, /--admin-address reads one forwarded ztunnel: pick its node with --node/);
    const unreachable = await ambient('workloads', '--node', 'node-1', '--admin-address', '127.0.0.1:1');
    assert.notEqual(unreachable.code, 0);
    assert.match(unreachable.stderr, /ztunnel on node-1: istio-system\/ztunnel-\w+ via http:\/\/127\.0\.0\.1:1\/config_dump/);
  });
});
