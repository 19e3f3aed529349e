// The L7 data path's cost beside its baselines, in one run on the local cluster (root): the same
// client pod (node-1) calls the same Service (server pod on node-2) at the same fixed rate three
// times: direct (namespace not in the mesh), L4 (in the mesh: two ztunnels, HBONE between the
// nodes) and L7 (plus a waypoint bound to the Service with a one-rule HTTPRoute: client ztunnel
// → waypoint → server ztunnel), and L7 with the whole resilience stack on the same Service (a
// DestinationRule with connection-pool limits, outlier detection and the default P2C/EWMA
// balancer, a local RateLimitPolicy that never trips, a FaultInjectionPolicy drawn on every
// request at 0%): what the layers cost beside plain routing. Reports requests/s, latency and what each mode adds, and the
// CPU per 1000 requests and memory (RSS, PSS) of every proxy process on the path, beside the
// waypoint's goals.
//
//   npm run bench -- waypoint
//   node benchmarks/src/waypoint-dataplane.ts --rps 500 --seconds 10 [--json FILE|-]
import { CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { benchResult, humanOutput, writeBenchResult } from './bench-output.ts';
import { type BenchRow, benchRow, goalCell } from './bench-result.ts';
import {
  type BenchCluster,
  benchNamespace,
  benchPod,
  containerPid,
  cpuDuring,
  idleCommand,
  loadIn,
  memoryMiB,
  mergePatch,
  ms,
  configDumpIn,
  nodeScriptIn,
  podNetnsOf,
  type OtherLoad,
  type RateResult,
  runningPods,
  serveCommand,
  sleep,
  startBenchCluster,
  tableRow,
  until,
  waitCaptured,
  ztunnelPids,
} from './cluster-bench.ts';
import { benchFlags } from './number-flags.ts';

const { flags, json } = benchFlags({ rps: 500, seconds: 10 });
const print = humanOutput(json);
/** The goals for the waypoint: CPU as vCPU at 1000 req/s, i.e. CPU seconds per 1000 requests. */
const goals = { waypointCpuPer1000: 0.25, waypointMemoryMiB: 80, l7OverL4P90Ms: 1 };
const routeHeader = 'x-bench-route';
const serviceHost = `server.${benchNamespace}.svc.cluster.local`;
const url = `http://${serviceHost}/`;
const rateArgs = ['rate', url, '--rps', String(flags.rps), '--seconds', String(flags.seconds), '--connections', '4', '--header', routeHeader];
// The same warm-up before each mode: JIT, certificates, connection pools.
const warmArgs = ['rate', url, '--rps', String(Math.min(flags.rps, 100)), '--seconds', '2', '--connections', '4', '--header', routeHeader];

interface Proxy {
  name: string;
  pid: number;
}
interface Mode {
  rate: RateResult;
  /** CPU seconds of each proxy during the rate phase, and its memory right after; by proxy name. */
  cpu: Map<string, number>;
  /** Work on the host that is not this run's, during the phase: the figures are noisy when it is not ~0. */
  other: OtherLoad;
  memory: Map<string, { rss: number; pss: number }>;
  /** The proxies' CPU with no traffic, in cores (summed), just before the phase: the fixed part
   *  that dividing by the requests spreads over them. */
  idleCores: number;
}

const idleSeconds = 3;

/** What this benchmark reads of the waypoint's `/config_dump`. */
interface WaypointDump {
  config?: { extensions?: { kind: string }[]; services?: { trafficPolicy?: { outlierDetection?: unknown } }[] };
}

async function measure(clusterId: string, inClient: ReturnType<typeof loadIn>, proxies: Proxy[]): Promise<Mode> {
  const idle = await cpuDuring(
    proxies.map((p) => p.pid),
    () => sleep(idleSeconds * 1000),
  );
  const { result, cpu, other } = await cpuDuring(
    proxies.map((p) => p.pid),
    () => inClient(rateArgs),
    clusterId,
  );
  return {
    rate: result,
    other: other!,
    cpu: new Map(proxies.map((p, i) => [p.name, cpu[i]!])),
    memory: new Map(proxies.map((p) => [p.name, memoryMiB(p.pid)])),
    idleCores: idle.cpu.reduce((sum, v) => sum + v, 0) / idleSeconds,
  };
}

/**
 * The document's rows: each mesh mode beside direct, L7 beside L4 for the latency goal, and
 * every proxy's CPU and memory per mode, the waypoint's (L7) against its goals.
 */
function waypointRows(modes: [string, Mode][], proxies: Proxy[]): BenchRow[] {
  const [[, direct], [, l4], [, l7]] = modes as [[string, Mode], [string, Mode], [string, Mode]];
  const rows: BenchRow[] = [];
  for (const [name, m] of modes.slice(1)) {
    rows.push(benchRow(`requests/s achieved, ${name}`, 'req/s', m.rate.rps, { baseline: direct.rate.rps }));
    rows.push(benchRow(`requests failed, ${name}`, '', m.rate.errors, { baseline: direct.rate.errors }));
    for (const p of ['p50', 'p90', 'p99'] as const) rows.push(benchRow(`latency ${p}, ${name}`, 'ms', m.rate[p], { baseline: direct.rate[p] }));
  }
  rows.push(benchRow('latency p90, L7 against L4', 'ms', l7.rate.p90, { baseline: l4.rate.p90, goal: { op: '<=', limit: goals.l7OverL4P90Ms, on: 'added' } }));
  for (const [name, m] of modes.slice(1)) {
    const isL7 = m === l7;
    for (const p of proxies.filter((x) => m.cpu.has(x.name))) {
      const goal = isL7 && p.name === 'waypoint';
      rows.push(
        benchRow(`CPU s per 1000 requests, ${p.name}, ${name}`, 'CPU-s', (m.cpu.get(p.name)! / m.rate.requests) * 1000, {
          ...(goal ? { goal: { op: '<=', limit: goals.waypointCpuPer1000 } } : {}),
        }),
        benchRow(`RSS, ${p.name}, ${name}`, 'MiB', m.memory.get(p.name)!.rss, { ...(goal ? { goal: { op: '<=', limit: goals.waypointMemoryMiB } } : {}) }),
        benchRow(`PSS, ${p.name}, ${name}`, 'MiB', m.memory.get(p.name)!.pss),
      );
    }
    rows.push(benchRow(`the proxies idle (${idleSeconds} s before), ${name}`, 'cores', m.idleCores));
  }
  for (const [name, m] of modes) rows.push(benchRow(`other work on the host, ${name}`, 'cores', m.other.cores));
  return rows;
}

let bench: BenchCluster | undefined;
const problems: string[] = [];
let rows: BenchRow[] = [];
try {
  bench = await startBenchCluster('bench-waypoint');
  const { cluster, core } = bench;
  const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  await applyManifests(
    cluster.kubeConfig,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: benchNamespace } },
      benchPod('server', 'node-2', serveCommand, { app: 'server' }),
      benchPod('client', 'node-1', idleCommand, { app: 'client' }),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'server', namespace: benchNamespace },
        spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    ] as never,
    'bench',
  );
  const [, client] = (await runningPods(core, ['server', 'client'])) as [V1Pod, V1Pod];
  const clientNetns = podNetnsOf(cluster, client);
  const inClient = loadIn(cluster, client);
  /** One request from the client: the route header's value ('' without it), or a throw. */
  const probe = (): Promise<string> =>
    nodeScriptIn(
      clientNetns,
      `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then(r => { if (r.status !== 200) process.exit(3); process.stdout.write(r.headers.get(${JSON.stringify(routeHeader)}) ?? '') })`,
    );
  await until('the Service name to answer from the client', async () => (await probe()) === '', 30_000); // hosts file, DNAT rules, the server's listener

  // 1. direct: no proxy on the path (kube-proxy's DNAT to the pod).
  await inClient(warmArgs);
  const direct = await measure(cluster.network.clusterId, inClient, []);

  // 2. L4: enrolled; both ztunnels carry every request.
  await core.patchNamespace({ name: benchNamespace, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  await waitCaptured(cluster, [1, 1]);
  const zt = await ztunnelPids(bench);
  const ztunnels: Proxy[] = ['node-1', 'node-2'].map((node) => ({ name: `ztunnel ${node}`, pid: zt.get(node)! }));
  await inClient(warmArgs);
  const l4 = await measure(cluster.network.clusterId, inClient, ztunnels);

  // 3. L7: a waypoint for the Service, a one-rule HTTPRoute (the router runs; its response
  // header proves every request went through it).
  await applyManifests(
    cluster.kubeConfig,
    [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: 'waypoint', namespace: benchNamespace },
        spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
      },
    ] as never,
    'bench',
  );
  const waypointPod = await until(
    'the waypoint pod to answer ready on 15021',
    async () => {
      const pods = (await core.listNamespacedPod({ namespace: benchNamespace, labelSelector: 'gateway.networking.k8s.io/gateway-name=waypoint' })).items;
      const pod = pods.find((p) => p.status?.phase === 'Running' && p.status.podIP);
      if (!pod) return undefined;
      await nodeScriptIn(
        podNetnsOf(cluster, pod),
        "fetch('http://127.0.0.1:15021/healthz/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
      );
      return pod;
    },
    90_000,
    500,
  );
  await custom.createNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace: benchNamespace,
    plural: 'httproutes',
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'server' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'server', port: 80 }],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            backendRefs: [{ name: 'server', port: 80 }],
            filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: routeHeader, value: 'waypoint' }] } }],
          },
        ],
      },
    },
  });
  await core.patchNamespacedService(
    { name: 'server', namespace: benchNamespace, body: { metadata: { labels: { 'istio.io/use-waypoint': 'waypoint' } } } },
    mergePatch,
  );
  await until('requests to the Service to go through the waypoint and its route', async () => (await probe()) === 'waypoint', 60_000, 300);
  const waypoint: Proxy = { name: 'waypoint', pid: containerPid(cluster, waypointPod) };
  await inClient(warmArgs);
  const l7 = await measure(cluster.network.clusterId, inClient, [...ztunnels, waypoint]);

  // 4. L7 with every resilience layer configured (none of them refuses a request at this load).
  const serverRef = [{ group: '', kind: 'Service', name: 'server' }];
  await applyManifests(
    cluster.kubeConfig,
    [
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'server', namespace: benchNamespace },
        spec: {
          host: 'server',
          trafficPolicy: {
            connectionPool: { tcp: { maxConnections: 10_000 }, http: { http1MaxPendingRequests: 10_000, http2MaxRequests: 10_000, maxRetries: 100 } },
            outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' },
          },
        },
      },
      {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'RateLimitPolicy',
        metadata: { name: 'server', namespace: benchNamespace },
        spec: {
          targetRefs: serverRef,
          limits: { 'per-caller': { rates: [{ limit: 1_000_000, window: '1m' }], counters: [{ expression: 'source.principal' }] } },
        },
      },
      {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'FaultInjectionPolicy',
        metadata: { name: 'server', namespace: benchNamespace },
        spec: { targetRefs: serverRef, fault: { abort: { httpStatus: 503, percentage: { value: 0 } } } },
      },
    ] as never,
    'bench',
  );
  await until(
    'the resilience policies to reach the waypoint',
    async () => {
      const dump = await configDumpIn<WaypointDump>(podNetnsOf(cluster, waypointPod));
      const kinds = (dump.config?.extensions ?? []).map((e: { kind: string }) => e.kind);
      return (
        kinds.includes('RateLimitPolicy') && kinds.includes('FaultInjectionPolicy') && dump.config?.services?.[0]?.trafficPolicy?.outlierDetection !== undefined
      );
    },
    60_000,
    300,
  );
  await inClient(warmArgs);
  const full = await measure(cluster.network.clusterId, inClient, [...ztunnels, waypoint]);

  // Every request of a mode took that mode's path.
  if (direct.rate.withHeader !== 0 || l4.rate.withHeader !== 0) problems.push('a request before the waypoint carried its route header');
  for (const [name, m] of [
    ['L7', l7],
    ['L7 + resilience', full],
  ] as const) {
    if (m.rate.withHeader !== m.rate.requests - m.rate.errors)
      problems.push(`only ${m.rate.withHeader} of ${m.rate.requests} ${name} responses came through the route`);
  }
  for (const [name, m] of [
    ['direct', direct],
    ['L4', l4],
    ['L7', l7],
    ['L7 + resilience', full],
  ] as const) {
    if (m.rate.errors > 0) problems.push(`${name}: ${m.rate.errors} errors`);
  }

  const modes = [direct, l4, l7, full];
  const percentiles = (m: Mode, base: Mode): string =>
    `${[m.rate.p50 - base.rate.p50, m.rate.p90 - base.rate.p90, m.rate.p99 - base.rate.p99].map((v) => v.toFixed(2)).join(' / ')} ms`;
  const perThousand = (m: Mode, name: string): number | undefined => {
    const cpu = m.cpu.get(name);
    return cpu === undefined ? undefined : (cpu / m.rate.requests) * 1000;
  };
  const cpuCell = (m: Mode, name: string): string => perThousand(m, name)?.toFixed(3).concat(' s') ?? '-';
  const memCell = (m: Mode, name: string): string => {
    const v = m.memory.get(name);
    return v ? `${v.rss.toFixed(0)} / ${v.pss.toFixed(0)} MiB` : '-';
  };
  const row = (label: string, cells: string[], goal = ''): string => `${tableRow(label, cells, 42, 22)}   ${goal}`.trimEnd();
  rows = waypointRows(
    [
      ['direct', direct],
      ['L4', l4],
      ['L7', l7],
      ['L7 + resilience', full],
    ],
    [...ztunnels, waypoint],
  );
  // The goal cells, as the document judges them.
  const goalOf = (figure: string): string => goalCell(rows.find((r) => r.figure === figure)!, 'L4');

  print(
    `\nwaypoint (L7) vs L4 vs direct (local cluster, 2 nodes, node ${process.version}; ${flags.rps} req/s for ${flags.seconds} s, 1 KiB responses, ` +
      `4 connections; client node-1, server node-2, waypoint ${waypointPod.spec?.nodeName})`,
  );
  print(row('', ['direct', 'L4: 2 ztunnels', 'L7: + waypoint', 'L7 + resilience'], 'goal'));
  print(
    row(
      'requests/s achieved (errors)',
      modes.map((m) => `${m.rate.rps.toFixed(0)} (${m.rate.errors})`),
    ),
  );
  for (const p of ['p50', 'p90', 'p99'] as const)
    print(
      row(
        `latency ${p}`,
        modes.map((m) => ms(m.rate[p])),
      ),
    );
  print(row('added p50 / p90 / p99 over direct', ['-', percentiles(l4, direct), percentiles(l7, direct), percentiles(full, direct)]));
  print(row('added p50 / p90 / p99 over L4', ['-', '-', percentiles(l7, l4), percentiles(full, l4)], `p90 ${goalOf('latency p90, L7 against L4')}`));
  print(row('added p50 / p90 / p99 over plain L7', ['-', '-', '-', percentiles(full, l7)]));
  for (const p of [...ztunnels, waypoint])
    print(
      row(
        `CPU s per 1000 requests: ${p.name}`,
        modes.map((m) => cpuCell(m, p.name)),
        p === waypoint ? goalOf('CPU s per 1000 requests, waypoint, L7') : '',
      ),
    );
  const total = (m: Mode): string => (m.cpu.size ? `${(([...m.cpu.values()].reduce((s, v) => s + v, 0) / m.rate.requests) * 1000).toFixed(3)} s` : '-');
  print(row('CPU s per 1000 requests: all proxies', modes.map(total)));
  print(
    row(
      `the same proxies idle (${idleSeconds} s before), cores`,
      modes.map((m) => (m.cpu.size ? m.idleCores.toFixed(3) : '-')),
    ),
  );
  for (const p of [...ztunnels, waypoint])
    print(
      row(
        `memory RSS / PSS: ${p.name}`,
        modes.map((m) => memCell(m, p.name)),
        p === waypoint ? `RSS ${goalOf('RSS, waypoint, L7')}` : '',
      ),
    );
  print(
    row(
      'other work on the host (steal), cores',
      modes.map((m) => `${m.other.cores.toFixed(2)} (${m.other.stealCores.toFixed(2)})`),
    ),
  );
  print(
    `  (CPU: utime+stime of each process during the ${flags.seconds} s phase, per 1000 requests = vCPU at 1000 req/s if linear; memory right after the phase)`,
  );
} catch (err) {
  problems.push(String(err));
  console.error(err);
} finally {
  await bench?.stop();
}
for (const p of problems) print(`  problem: ${p}`);
writeBenchResult(benchResult('waypoint', flags, rows, problems), json);
process.exit(problems.length ? 1 : 0);
