// The waypoint's resilience layer end to end on the local cluster: circuit breaking, outlier
// detection, P2C/EWMA load balancing (DestinationRule), a global rate limit across two waypoint
// replicas through a real redis-server running as a pod, and fault injection (the project's
// policy CRDs). Traffic shares are measured at the backends (each reply names its pod); flags
// and ejections are read from the waypoints' own metrics.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import pino from 'pino';
import { startCluster, type Cluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess } from '@ambient/local-cluster/mesh';
import { echoContainer, MeshPods, until as poll } from '@ambient/tests';

const repo = resolve(import.meta.dirname, '../..');
const kubectlBin = join(repo, '.cache/kubectl/v1.34/kubectl');
const run = promisify(execFile);
const ns = 'shop';
const svc = (name: string): string => `${name}.${ns}.svc.cluster.local`;

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> => poll(what, fn, timeoutMs, 300);

/** A one-pod Deployment of the echo app behind Service `app`, with per-pod serve flags. */
const echoDeployment = (app: string, name: string, flags: string[] = []) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app, pod: name } },
    template: {
      metadata: { labels: { app, pod: name } },
      spec: { serviceAccountName: 'backend', nodeName: 'node-2', containers: [echoContainer(name, flags)] },
    },
  },
});
const waypointService = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, labels: { 'istio.io/use-waypoint': 'waypoint' } },
  spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
});
const route = (name: string, path: string | undefined) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: ns },
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }],
    rules: [{ ...(path ? { matches: [{ path: { type: 'PathPrefix', value: path } }] } : {}), backendRefs: [{ name: 'web', port: 80 }] }],
  },
});
const redisAddress = 'redis.ratelimit.svc.cluster.local:6379';
const redisPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'redis', namespace: 'ratelimit', labels: { app: 'redis' } },
  spec: {
    nodeName: 'node-1',
    containers: [
      {
        name: 'redis',
        image: 'redis:local',
        command: ['redis-server', '--port', '6379', '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'],
        ports: [{ name: 'redis', containerPort: 6379 }],
      },
    ],
  },
};
const manifests = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'istio.io/dataplane-mode': 'ambient' } } },
  // Outside the mesh: the waypoints reach Redis directly, as they would a cluster's Redis.
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ratelimit' } },
  redisPod,
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'redis', namespace: 'ratelimit' },
    spec: { selector: { app: 'redis' }, ports: [{ name: 'tcp-redis', port: 6379, targetPort: 6379 }] },
  },
  ...['client', 'backend'].map((sa) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } })),
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client', namespace: ns, labels: { app: 'client' } },
    spec: { nodeName: 'node-1', serviceAccountName: 'client', containers: [{ ...echoContainer(''), name: 'client' }] },
  },
  echoDeployment('breaker', 'breaker'),
  // Three healthy pods and one that answers 500 to everything.
  ...['pool-a', 'pool-b', 'pool-c'].map((n) => echoDeployment('pool', n)),
  echoDeployment('pool', 'pool-bad', ['--fail-status', '500']),
  // Two fast pods and one ten times slower.
  echoDeployment('lat', 'lat-fast-1', ['--delay', '5']),
  echoDeployment('lat', 'lat-fast-2', ['--delay', '5']),
  echoDeployment('lat', 'lat-slow', ['--delay', '50']),
  echoDeployment('web', 'web'),
  ...['breaker', 'pool', 'lat', 'web'].map(waypointService),
  route('limited', '/limited'),
  route('chaos', '/chaos'),
  route('rest', undefined),
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: ns },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  },
];
const podCount = 1 + 1 + 4 + 3 + 1; // client, breaker, pool, lat, web

describe('waypoint resilience on the local cluster (breakers, ejection, P2C/EWMA, global rate limit, faults)', function () {
  this.timeout(300_000);
  let dataDir: string;
  let cluster: Cluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let pods: MeshPods;

  const kubectl = async (args: string[]): Promise<string> =>
    (await run(kubectlBin, args, { env: { ...process.env, KUBECONFIG: cluster.api.kubeconfigPath }, encoding: 'utf8' })).stdout;
  const apply = (objects: object[]) => applyManifests(cluster.kubeConfig, objects as never, 'e2e');
  const destinationRule = (host: string, trafficPolicy: object) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: host, namespace: ns },
    spec: { host, trafficPolicy },
  });
  /** Every running waypoint replica's config_dump, once each shows `test` true. */
  const untilEveryWaypoint = async (what: string, test: (dump: any) => boolean) => {
    let last = '';
    await until(
      what,
      async () => {
        const wps = await pods.waypointPods();
        if (wps.length < 2) return false;
        for (const p of wps) {
          const r = await pods.fetchIn(p, 'http://127.0.0.1:15000/config_dump');
          last = r.body;
          if (r.code !== 0 || !test(JSON.parse(r.body))) return false;
        }
        return true;
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the last config_dump: ${JSON.stringify(JSON.parse(last || 'null')?.config?.services ?? last).slice(0, 3000)}`);
    });
  };
  /** `kubectl patch --type merge`: the generated client sends JSON patches only. */
  const mergePatch = (kind: string, name: string, patch: object) => kubectl(['patch', kind, name, '-n', ns, '--type', 'merge', '-p', JSON.stringify(patch)]);
  const serviceConfig = (dump: any, name: string) => dump.config?.services?.find((s: any) => s.hostname === svc(name));
  const hasExtension = (dump: any, kind: string, name: string) => (dump.config?.extensions ?? []).some((e: any) => e.kind === kind && e.name === name);

  before(async () => {
    if (!process.env.PATH?.includes('.cache/kubectl')) process.env.PATH = `${join(repo, '.cache/kubectl/v1.34')}:${process.env.PATH}`;
    dataDir = mkdtempSync(join(tmpdir(), 'resilience-e2e-'));
    cluster = await startCluster({ dataDir, nodes: 2, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    pods = new MeshPods(cluster, ns);
    await deployZtunnel(cluster);
    await apply(manifests);
    // Two waypoint replicas: the global rate limit must hold across both.
    await until('the waypoint Deployment', async () => (await kubectl(['get', 'deploy', 'waypoint', '-n', ns, '-o', 'name'])).includes('waypoint'));
    await kubectl(['scale', 'deployment/waypoint', '-n', ns, '--replicas', '2']);
    await until(
      'every pod running',
      async () => {
        const all = (await core.listNamespacedPod({ namespace: ns })).items;
        const running = all.filter((p) => p.status?.phase === 'Running' && p.status.podIP);
        const redis = await core.readNamespacedPod({ name: 'redis', namespace: 'ratelimit' });
        return running.length === podCount + 2 && redis.status?.phase === 'Running';
      },
      120_000,
    );
    await untilEveryWaypoint('both waypoint replicas to serve the services', (d) => ['breaker', 'pool', 'lat', 'web'].every((n) => serviceConfig(d, n)));
  });

  after(async () => {
    await cluster?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('circuit breaking: with maxConnections 1 and http1MaxPendingRequests 1, excess concurrent requests fail fast with 503 UO', async () => {
    await apply([destinationRule('breaker', { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } } })]);
    await untilEveryWaypoint(
      'the DestinationRule to reach both waypoints',
      (d) => serviceConfig(d, 'breaker')?.trafficPolicy?.connectionPool?.maxConnections === 1,
    );
    const before = await pods.waypointMetric('istio_requests_total', { destination_service: svc('breaker'), response_flags: 'UO' });
    // Each request holds its connection 1 s: all 12 are in flight at once.
    const s = await pods.summary('client', `http://${svc('breaker')}/delay/1000`, ['--count', '12', '--concurrency', '12']);
    const ok = s.byStatus['200'] ?? 0;
    const overflow = s.byStatus['503'] ?? 0;
    // Per waypoint replica (each keeps its own breaker, as each Envoy does): 1 active + 1 pending.
    assert.ok(ok >= 2 && ok <= 4, `2 to 4 admitted (1 + 1 per replica), got ${JSON.stringify(s.byStatus)}`);
    assert.equal(ok + overflow, 12, JSON.stringify(s));
    const flagged = await until('the UO flags in the metrics', async () => {
      const n = (await pods.waypointMetric('istio_requests_total', { destination_service: svc('breaker'), response_flags: 'UO' })) - before;
      return n >= overflow ? n : undefined;
    });
    assert.equal(flagged, overflow);
    assert.ok((await pods.waypointMetric('waypoint_circuit_breaker_overflow_total', { destination_service: svc('breaker') })) >= overflow);
  });

  it('outlier detection: a 100%-failing endpoint among three healthy ones is ejected, then returns after the ejection time', async () => {
    await apply([
      destinationRule('pool', {
        outlierDetection: { consecutive5xxErrors: 3, interval: '1s', baseEjectionTime: '3s', maxEjectionPercent: 50 },
        loadBalancer: { simple: 'ROUND_ROBIN' },
      }),
    ]);
    await untilEveryWaypoint('the outlier detection to reach both waypoints', (d) => serviceConfig(d, 'pool')?.trafficPolicy?.outlierDetection !== undefined);
    const s = await pods.summary('client', `http://${svc('pool')}/`, ['--count', '200', '--rate', '50', '--concurrency', '4']);
    const bad = s.byPod[Object.keys(s.byPod).find((p) => p.startsWith('pool-bad')) ?? ''] ?? 0;
    // Without ejection, round robin would send it 50 of 200. Each replica sends it 3 before
    // ejecting it for 3 s, and (in the 4 s run) at most 3 more after its return: ≤ 12.
    assert.ok(bad <= 14, `the failing pod got ${bad} of 200: ${JSON.stringify(s.byPod)}`);
    assert.equal(s.byStatus['500'] ?? 0, bad);
    for (const healthy of ['pool-a', 'pool-b', 'pool-c']) {
      const n = Object.entries(s.byPod).find(([p]) => p.startsWith(healthy))?.[1] ?? 0;
      assert.ok(n >= 50, `${healthy} answered ${n}: ${JSON.stringify(s.byPod)}`);
    }
    assert.ok((await pods.waypointMetric('waypoint_outlier_ejections_total', { destination_service: svc('pool') })) >= 1);
    // maxEjectionPercent 50 of 4 endpoints: at most 2 ejected per replica, ever.
    for (const p of await pods.waypointPods()) {
      const text = (await pods.fetchIn(p, 'http://127.0.0.1:15020/metrics')).body;
      const gauge = text.split('\n').find((l) => l.startsWith('waypoint_outlier_ejected{') && l.includes(svc('pool')));
      assert.ok(gauge === undefined || Number(gauge.slice(gauge.lastIndexOf(' ') + 1)) <= 2, gauge);
    }
    await until(
      'the ejected endpoint to return after its ejection time',
      async () => (await pods.waypointMetric('waypoint_outlier_returns_total', { destination_service: svc('pool') })) >= 1,
      30_000,
    );
  });

  it('P2C with EWMA latency (the default): an endpoint ten times slower gets under 15% of the requests', async () => {
    // Warm up: each replica learns the latencies.
    await pods.summary('client', `http://${svc('lat')}/`, ['--count', '60', '--concurrency', '4']);
    const s = await pods.summary('client', `http://${svc('lat')}/`, ['--count', '400', '--concurrency', '4']);
    assert.equal(s.byStatus['200'], 400, JSON.stringify(s));
    const slow = Object.entries(s.byPod).find(([p]) => p.startsWith('lat-slow'))?.[1] ?? 0;
    assert.ok(slow < 60, `the slow pod answered ${slow} of 400 (${JSON.stringify(s.byPod)}); round robin would give it 133`);
  });

  it('a global rate limit of 20 per minute across two waypoint replicas admits 20 in total, not 40', async () => {
    await apply([
      {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: { name: 'limited', namespace: ns },
        spec: {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'limited' }],
          limits: { everyone: { rates: [{ limit: 20, window: '1m' }] } },
          store: { type: 'Redis', address: redisAddress, failureMode: 'Open' },
        },
      },
    ]);
    await untilEveryWaypoint('the RateLimitPolicy to reach both waypoints', (d) => hasExtension(d, 'RateLimitPolicy', 'limited'));
    const accepted = await kubectl(['get', 'ratelimitpolicy', 'limited', '-n', ns]);
    assert.match(accepted, /limited\s+True\s+HTTPRoute\s+limited/, accepted);
    const s = await pods.summary('client', `http://${svc('web')}/limited`, ['--count', '60', '--concurrency', '6']);
    assert.equal((s.byStatus['200'] ?? 0) + (s.byStatus['429'] ?? 0), 60, JSON.stringify(s));
    const admitted = s.byStatus['200'] ?? 0;
    assert.ok(admitted >= 19 && admitted <= 21, `admitted ${admitted} of 60: ${JSON.stringify(s.byStatus)}`);
    // Both replicas took part: each answered some of the 429s.
    for (const p of await pods.waypointPods()) {
      const text = (await pods.fetchIn(p, 'http://127.0.0.1:15020/metrics')).body;
      assert.ok(
        text.split('\n').some((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="429"') && l.includes('response_flags="RL"')),
        `waypoint ${p.metadata!.name} answered no 429 RL`,
      );
    }
    const limited = await pods.call('client', `http://${svc('web')}/limited`);
    assert.equal(limited.lines[0]?.status, 429);
    assert.ok(limited.lines[0]?.headers?.['retry-after'], JSON.stringify(limited.lines[0]));
  });

  it('Redis killed mid-test: the limit fails open (the default), then closed when the policy says so; no waypoint crashes', async () => {
    const restartsBefore = (await pods.waypointPods()).map((p) => p.status?.containerStatuses?.[0]?.restartCount ?? 0);
    await core.deleteNamespacedPod({ name: 'redis', namespace: 'ratelimit', gracePeriodSeconds: 0 });
    await until('the Redis pod to be gone', async () => {
      try {
        await core.readNamespacedPod({ name: 'redis', namespace: 'ratelimit' });
        return false;
      } catch {
        return true;
      }
    });
    // The counter is spent, so only failing open admits these.
    const open = await until('fail-open admissions with Redis down', async () => {
      const s = await pods.summary('client', `http://${svc('web')}/limited`, ['--count', '10', '--concurrency', '2']);
      return (s.byStatus['200'] ?? 0) === 10 ? s : undefined;
    });
    assert.equal(open.byStatus['200'], 10);
    assert.ok((await pods.waypointMetric('waypoint_rate_limit_store_errors_total', { outcome: 'fail_open' })) >= 10);
    await mergePatch('ratelimitpolicy', 'limited', { spec: { store: { type: 'Redis', address: redisAddress, failureMode: 'Closed' } } });
    const closed = await until('fail-closed refusals with Redis down', async () => {
      const s = await pods.summary('client', `http://${svc('web')}/limited`, ['--count', '10', '--concurrency', '2']);
      return (s.byStatus['200'] ?? 0) === 0 ? s : undefined;
    });
    assert.equal(closed.sent, 10, JSON.stringify(closed));
    const other = await pods.summary('client', `http://${svc('web')}/`, ['--count', '10']);
    assert.equal(other.byStatus['200'], 10, 'requests the policy does not cover are untouched');
    const restartsAfter = (await pods.waypointPods()).map((p) => p.status?.containerStatuses?.[0]?.restartCount ?? 0);
    assert.deepEqual(restartsAfter, restartsBefore, 'no waypoint restarted');
  });

  it('fault injection: a 30% abort lands within binomial bounds, flagged FI; a header-matched delay is measured', async () => {
    await apply([
      {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'FaultInjectionPolicy',
        metadata: { name: 'chaos-abort', namespace: ns },
        spec: {
          targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'chaos' }],
          fault: { abort: { httpStatus: 503, percentage: { value: 30 } } },
        },
      },
      {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'FaultInjectionPolicy',
        metadata: { name: 'web-delay', namespace: ns },
        spec: {
          targetRefs: [{ group: '', kind: 'Service', name: 'web' }],
          match: { headers: [{ name: 'x-chaos', value: 'slow' }] },
          fault: { delay: { fixedDelay: '300ms' } },
        },
      },
    ]);
    await untilEveryWaypoint(
      'the fault policies to reach both waypoints',
      (d) => hasExtension(d, 'FaultInjectionPolicy', 'chaos-abort') && hasExtension(d, 'FaultInjectionPolicy', 'web-delay'),
    );
    const before = await pods.waypointMetric('istio_requests_total', { destination_service: svc('web'), response_flags: 'FI' });
    const s = await pods.summary('client', `http://${svc('web')}/chaos`, ['--count', '1000', '--concurrency', '8']);
    const aborted = s.byStatus['503'] ?? 0;
    // Binomial n = 1000, p = 0.3: mean 300, sd 14.5; 99.9% two-sided (z = 3.29): 300 ± 48.
    assert.ok(aborted >= 252 && aborted <= 348, `aborted ${aborted} of 1000: ${JSON.stringify(s.byStatus)}`);
    assert.equal((s.byStatus['200'] ?? 0) + aborted, 1000);
    const flagged = await until('the FI flags in the metrics', async () => {
      const n = (await pods.waypointMetric('istio_requests_total', { destination_service: svc('web'), response_flags: 'FI' })) - before;
      return n >= aborted ? n : undefined;
    });
    assert.equal(flagged, aborted, 'aborts are not retried: one FI per abort');

    const plain = await pods.summary('client', `http://${svc('web')}/`, ['--count', '20']);
    const delayed = await pods.summary('client', `http://${svc('web')}/`, ['--count', '20', '--header', 'x-chaos:slow']);
    assert.equal(delayed.byStatus['200'], 20, JSON.stringify(delayed));
    assert.ok(delayed.p50Ms !== null && delayed.p50Ms >= 300, `delayed p50 ${delayed.p50Ms} ms (plain ${plain.p50Ms} ms)`);
    assert.ok(plain.p50Ms !== null && plain.p50Ms < 300, `plain p50 ${plain.p50Ms} ms`);
    assert.ok((await pods.waypointMetric('istio_requests_total', { destination_service: svc('web'), response_flags: 'DI' })) >= 20);
  });

  it('an invalid edit to a policy is refused with the field named, and the last accepted spec stays in force', async () => {
    // A regex the CRD schema cannot check: only the parser istiod-lite shares with the waypoint can.
    await mergePatch('faultinjectionpolicy', 'chaos-abort', { spec: { match: { headers: [{ name: 'x-user', type: 'RegularExpression', value: '(' }] } } });
    const condition = await until('the Invalid condition', async () => {
      const o = (await custom.getNamespacedCustomObject({
        group: 'mesh.ambient.dev',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'faultinjectionpolicies',
        name: 'chaos-abort',
      })) as any;
      const c = o.status?.conditions?.find((x: any) => x.type === 'Accepted');
      return c?.status === 'False' ? c : undefined;
    });
    assert.equal(condition.reason, 'Invalid');
    assert.match(condition.message, /spec\.match\.headers\[0\]\.value/);
    assert.match(condition.message, /the last accepted spec \(generation 1\) stays in force/);
    // The last good spec (30% aborts for everyone, no header match) still applies.
    const s = await pods.summary('client', `http://${svc('web')}/chaos`, ['--count', '200', '--concurrency', '8']);
    assert.ok((s.byStatus['503'] ?? 0) > 20, `the last good abort still applies: ${JSON.stringify(s.byStatus)}`);
  });
});
