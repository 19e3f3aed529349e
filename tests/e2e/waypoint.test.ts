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
import { echoContainer, echoScript, MeshPods, until as poll, type CallSummary } from '@ambient/tests';

const repo = resolve(import.meta.dirname, '../..');
const kubectlBin = join(repo, '.cache/kubectl/v1.34/kubectl');
const run = promisify(execFile);
const reviews = 'reviews.shop.svc.cluster.local';

/** Polls with this file's default bound. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> => poll(what, fn, timeoutMs, 300);

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

describe('waypoint on the local cluster (L7 policy for a Service)', function () {
  this.timeout(180_000);
  let dataDir: string;
  let cluster: Cluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;

  let pods: MeshPods;
  const pod = (name: string): Promise<V1Pod> => pods.pod(name);
  const inPod = (p: V1Pod, argv: string[], timeoutMs = 60_000) => pods.exec(p, argv, timeoutMs);
  /** The unmodified client: the echo app's `call` inside the client pod. */
  const call = (url: string, flags: string[] = [], from = 'client') => pods.call(from, url, flags);
  const summary = (url: string, flags: string[] = []): Promise<CallSummary> => pods.summary('client', url, flags);
  const waypointPod = async (): Promise<V1Pod> => {
    const running = (await pods.waypointPods())[0];
    assert.ok(running, 'no running waypoint pod');
    return running;
  };
  const fetchInWaypoint = async (url: string): Promise<{ code: number; body: string }> => pods.fetchIn(await waypointPod(), url);
  /** The sum of a metric's samples whose labels contain every given pair. */
  const metric = (name: string, labels: Record<string, string>): Promise<number> => pods.waypointMetric(name, labels);
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
    pods = new MeshPods(cluster, 'shop');
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
  it('splits 90/10 by weight: 2000 requests land within a 99.9% binomial bound, and the route shows Accepted', async () => {
    await createRoute('httproutes', 'canary', {
      parentRefs: reviewsParent(),
      rules: [
        {
          backendRefs: [
            { name: 'reviews-v1', port: 80, weight: 90 },
            { name: 'reviews-v2', port: 80, weight: 10 },
          ],
          filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-route', value: 'canary' }] } }],
        },
      ],
    });
    await untilReply('the canary route to apply', `http://${reviews}/`, [], (l) => l[0]?.headers?.['x-route'] === 'canary');
    const s = await summary(`http://${reviews}/canary`, ['--count', '2000', '--concurrency', '8']);
    assert.equal(s.byStatus['200'], 2000, JSON.stringify(s));
    // Binomial n = 2000, p = 0.1: mean 200, sd 13.4; 99.9% two-sided (z = 3.29): 200 ± 44.
    const v2 = s.byVersion.v2 ?? 0;
    assert.ok(v2 >= 156 && v2 <= 244, `v2 answered ${v2} of 2000 (v1 ${s.byVersion.v1})`);
    const yaml = (
      await run(kubectlBin, ['get', 'httproute', 'canary', '-n', 'shop', '-o', 'yaml'], {
        env: { ...process.env, KUBECONFIG: cluster.api.kubeconfigPath },
        encoding: 'utf8',
      })
    ).stdout;
    assert.match(yaml, /type: Accepted/);
    assert.match(yaml, /reason: Accepted\n\s+status: "True"\n\s+type: Accepted/);
    assert.match(yaml, /reason: ResolvedRefs\n\s+status: "True"\n\s+type: ResolvedRefs/);
    await deleteRoute('httproutes', 'canary');
  });

  it('routes by header and by query parameter: only matching requests reach v2', async () => {
    await createRoute('httproutes', 'by-match', {
      parentRefs: reviewsParent(),
      rules: [
        { matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }], backendRefs: [{ name: 'reviews-v2', port: 80 }] },
        { matches: [{ queryParams: [{ name: 'version', value: '2' }] }], backendRefs: [{ name: 'reviews-v2', port: 80 }] },
        { backendRefs: [{ name: 'reviews-v1', port: 80 }] },
      ],
    });
    await untilReply('the header route to apply', `http://${reviews}/`, ['--header', 'x-canary:yes'], (l) => l[0]?.body?.version === 'v2');
    await untilReply('the default rule to apply', `http://${reviews}/`, [], (l) => l[0]?.body?.version === 'v1');
    const byHeader = await summary(`http://${reviews}/h`, ['--count', '40', '--header', 'x-canary:yes']);
    const byQuery = await summary(`http://${reviews}/q?version=2`, ['--count', '40']);
    const other = await summary(`http://${reviews}/q?version=3`, ['--count', '40', '--header', 'x-canary:no']);
    assert.deepEqual(byHeader.byVersion, { v2: 40 });
    assert.deepEqual(byQuery.byVersion, { v2: 40 });
    assert.deepEqual(other.byVersion, { v1: 40 });
    await deleteRoute('httproutes', 'by-match');
  });

  it('redirects and rewrites: prefix and full-path, host, scheme, port, status', async () => {
    await createRoute('httproutes', 'moves', {
      parentRefs: reviewsParent(),
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
          filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 } }],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/away' } }],
          filters: [
            {
              type: 'RequestRedirect',
              requestRedirect: { scheme: 'https', hostname: 'shop.example', port: 8443, path: { type: 'ReplaceFullPath', replaceFullPath: '/landing' } },
            },
          ],
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
          filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'rewritten.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2/api' } } }],
          backendRefs: [{ name: 'reviews-v1', port: 80 }],
        },
        {
          matches: [{ path: { type: 'Exact', value: '/full' } }],
          filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/replaced' } } }],
          backendRefs: [{ name: 'reviews-v1', port: 80 }],
        },
      ],
    });
    const old = await untilReply('the redirect to apply', `http://${reviews}/old/page?x=1`, [], (l) => l[0]?.status === 301);
    assert.equal(old.lines[0].headers.location, `http://${reviews}/new/page?x=1`);
    const away = await call(`http://${reviews}/away/deep`);
    assert.equal(away.lines[0].status, 302);
    assert.equal(away.lines[0].headers.location, 'https://shop.example:8443/landing');
    const api = await call(`http://${reviews}/api/items?id=7`);
    assert.equal(api.lines[0].body.url, '/v2/api/items?id=7');
    assert.equal(api.lines[0].body.headers.host, 'rewritten.example');
    const full = await call(`http://${reviews}/full`);
    assert.equal(full.lines[0].body.url, '/replaced');
    await deleteRoute('httproutes', 'moves');
  });

  it('mirrors each request to another backend and ignores its response', async () => {
    await createRoute('httproutes', 'mirror', {
      parentRefs: reviewsParent(),
      rules: [
        {
          backendRefs: [{ name: 'reviews-v1', port: 80 }],
          filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'reviews-v2', port: 80 } } }],
        },
      ],
    });
    await untilReply('the mirror route to apply', `http://${reviews}/`, [], (l) => l[0]?.body?.version === 'v1');
    await until('the route to send everything to v1', async () => (await summary(`http://${reviews}/`, ['--count', '6'])).byVersion.v1 === 6);
    await resetStats();
    const s = await summary(`http://${reviews}/mirrored/x`, ['--count', '20']);
    assert.deepEqual(s.byVersion, { v1: 20 }, 'every answer comes from the primary backend');
    await until('v2 to receive the 20 copies', async () => (await served('v2', 'mirrored')) === 20);
    assert.equal(await served('v1', 'mirrored'), 20);
    await deleteRoute('httproutes', 'mirror');
  });

  it('rescues a backend failing 50% with 503 by retries (success > 99%), counted', async () => {
    await custom.createNamespacedCustomObject({
      group: 'mesh.ambient.dev',
      version: 'v1alpha1',
      namespace: 'shop',
      plural: 'backendtrafficpolicies',
      body: {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'BackendTrafficPolicy',
        metadata: { name: 'generous' },
        spec: { targetRefs: [{ group: '', kind: 'Service', name: 'reviews-v1' }], retryConstraint: { budget: { percent: 100, interval: '10s' } } },
      },
    });
    await createRoute('httproutes', 'retries', {
      parentRefs: reviewsParent(),
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/fail' } }],
          backendRefs: [{ name: 'reviews-v1', port: 80 }],
          retry: { attempts: 3, codes: [503], backoff: '10ms' },
        },
        {
          // A backend that always fails, with the default budget: what a sick service sees.
          matches: [{ path: { type: 'PathPrefix', value: '/broken' } }],
          filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/fail/100' } } }],
          backendRefs: [{ name: 'reviews-v2', port: 80 }],
          retry: { attempts: 3, codes: [503], backoff: '10ms' },
        },
      ],
    });
    const retried = { reporter: 'waypoint' } as Record<string, string>;
    await until('the retry route to apply', async () => (await summary(`http://${reviews}/fail/50`, ['--count', '10'])).byStatus['200'] === 10);
    const before = await metric('waypoint_retries_total', { ...retried, outcome: 'retried', destination_service: 'reviews-v1.shop.svc.cluster.local' });
    const s = await summary(`http://${reviews}/fail/50`, ['--count', '200']);
    assert.ok((s.byStatus['200'] ?? 0) >= 198, `success ${s.byStatus['200']} of 200: ${JSON.stringify(s.byStatus)}`);
    const after = await metric('waypoint_retries_total', { outcome: 'retried', destination_service: 'reviews-v1.shop.svc.cluster.local' });
    assert.ok(after - before >= 90, `retries counted: ${after - before}`);
  });

  it('holds the retry budget for a backend failing 100%: it receives at most 1.2x the offered rate + 10/s', async () => {
    await resetStats();
    const started = Date.now();
    const s = await summary(`http://${reviews}/broken`, ['--count', '200', '--rate', '20', '--concurrency', '4']);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(s.byStatus['503'], 200, `every request fails with the backend's own 503: ${JSON.stringify(s.byStatus)}`);
    const received = await served('v2', 'fail');
    // Without a budget 3 retries each would make 800; the budget allows 20% + 10/s.
    assert.ok(received > 200, `retries were made (${received} received)`);
    assert.ok(received <= 1.2 * 200 + 10 * seconds, `the backend received ${received} for 200 offered in ${seconds.toFixed(1)} s`);
    assert.ok((await metric('waypoint_retries_total', { outcome: 'budget_exhausted', destination_service: 'reviews-v2.shop.svc.cluster.local' })) > 0);
    await deleteRoute('httproutes', 'retries');
  });

  it('answers 504 when timeouts.request passes before a slow backend answers', async () => {
    await createRoute('httproutes', 'slow', {
      parentRefs: reviewsParent(),
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/delay' } }], backendRefs: [{ name: 'reviews-v1', port: 80 }], timeouts: { request: '500ms' } },
      ],
    });
    const r = await untilReply('the timeout to apply', `http://${reviews}/delay/2000`, [], (l) => l[0]?.status === 504);
    // The backend answers after 2000 ms; the 504 comes from the waypoint's own deadline.
    assert.ok(r.lines[0].durationMs < 2000, `504 after ${r.lines[0].durationMs} ms`);
    assert.ok((await metric('istio_requests_total', { response_code: '504', response_flags: 'UT', destination_service: reviews })) > 0);
    await deleteRoute('httproutes', 'slow');
  });

  it('denies by path and by method for one source (403, counted) and lets the rest through', async () => {
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'shop',
      plural: 'authorizationpolicies',
      body: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'guard' },
        spec: {
          targetRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
          action: 'DENY',
          rules: [
            { to: [{ operation: { paths: ['/admin*'] } }] },
            { from: [{ source: { principals: ['cluster.local/ns/shop/sa/intruder'] } }], to: [{ operation: { methods: ['DELETE'] } }] },
          ],
        },
      },
    });
    const denied = await untilReply('the policy to apply', `http://${reviews}/admin/users`, [], (l) => l[0]?.status === 403);
    assert.equal(denied.lines[0].body, 'RBAC: access denied');
    assert.equal((await call(`http://${reviews}/items`)).lines[0].status, 200);
    assert.equal((await call(`http://${reviews}/items`, ['--method', 'DELETE'])).lines[0].status, 200, 'DELETE from the client is allowed');
    assert.equal((await call(`http://${reviews}/items`, ['--method', 'DELETE'], 'intruder')).lines[0].status, 403);
    assert.equal((await call(`http://${reviews}/items`, [], 'intruder')).lines[0].status, 200, 'GET from the intruder is allowed');
    assert.ok((await metric('waypoint_requests_denied_total', { policy: 'shop/guard' })) >= 2);
  });

  it('carries gRPC unary and server-streaming calls, routed by GRPCRoute method matches', async () => {
    await createRoute('grpcroutes', 'grpc', {
      parentRefs: reviewsParent(9090),
      rules: [
        { matches: [{ method: { service: 'ambient.echo.v1.Echo', method: 'Say' } }], backendRefs: [{ name: 'reviews-v2', port: 9090 }] },
        { backendRefs: [{ name: 'reviews-v1', port: 9090 }] },
      ],
    });
    const grpc = async (args: string[]) => {
      const r = await inPod(await pod('client'), [process.execPath, echoScript, 'grpc', `${reviews}:9090`, ...args]);
      return {
        ok: r.code === 0,
        lines: r.stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
        output: r.stdout + r.stderr,
      };
    };
    await until('the GRPCRoute to apply', async () => {
      const r = await grpc(['say', 'hi', '--count', '4', '--summary']);
      return r.lines.at(-1)?.byVersion?.v2 === 4;
    });
    const say = await grpc(['say', 'hello', '--count', '20', '--summary']);
    assert.ok(say.ok, say.output);
    assert.deepEqual(say.lines.at(-1).byVersion, { v2: 20 });
    const count = await grpc(['count', '5']);
    assert.ok(count.ok, count.output);
    const replies = count.lines.filter((l) => l.i !== undefined);
    assert.equal(replies.length, 5, count.output);
    assert.ok(
      replies.every((l) => String(l.pod).startsWith('reviews-v1')),
      `the streaming call went to v1 by the default rule: ${count.output}`,
    );
    await deleteRoute('grpcroutes', 'grpc');
  });
});
