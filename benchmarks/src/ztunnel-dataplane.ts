// The data plane's cost, measured side by side in one run on the local cluster (root): the same
// client pod (node-1) and server pod (node-2), first directly, then with the namespace in the
// mesh (two ztunnels, HBONE/mTLS between the nodes). Reports requests/s and latency at a fixed
// rate (1 KiB responses, 4 keep-alive connections), single-stream bulk throughput, and each
// ztunnel's memory idle and after the rate phase and its CPU seconds per 1000 requests, beside
// the performance issue's goals (RSS and CPU at 1000 req/s; latency and throughput against the
// same run's direct path).
//
//   npm run bench -- ztunnel
//   node benchmarks/src/ztunnel-dataplane.ts --rps 1000 --seconds 10 --mib 512 [--json FILE|-]
import { benchResult, humanOutput, writeBenchResult } from './bench-output.ts';
import { type BenchRow, benchRow, renderBenchTable } from './bench-result.ts';
import {
  type BenchCluster,
  type BulkResult,
  benchNamespace,
  clientAndServer,
  cpuDuring,
  loadIn,
  memoryMiB,
  mergePatch,
  type RateResult,
  sleep,
  startBenchCluster,
  waitCaptured,
  ztunnelPids,
} from './cluster-bench.ts';
import { benchFlags } from './number-flags.ts';

const { flags, json } = benchFlags({ rps: 1000, seconds: 10, mib: 512 });
/** The performance issue's goals for ztunnel: memory and CPU of each ztunnel (at 1000 req/s),
 *  latency added over the direct path, single-stream throughput as a share of direct's. */
const goals = { idleRssMiB: 55, rateRssMiB: 75, cpuPer1000: 0.1, addedP90Ms: 0.25, addedP99Ms: 0.6, bulkOfDirect: 0.45 };
const nodes = ['node-1', 'node-2'];
/** Without traffic between the warm-up and the idle memory reading. */
const idleSeconds = 3;
const print = humanOutput(json);
const rows: BenchRow[] = [];
const problems: string[] = [];

/** What one path (direct or through the ztunnels) measured. */
interface PathResult {
  rate: RateResult;
  bulk: BulkResult;
  /** Busy CPU on the host that is not this run's during the rate phase, in cores. */
  otherCores: number;
}

/** The rows of the run: the mesh beside the direct baseline, and each ztunnel against its goals. */
function ztunnelRows(direct: PathResult, mesh: PathResult, zt: { idleRss: number[]; rateRss: number[]; bulkRss: number[]; cpu: number[] }): BenchRow[] {
  const vsDirect = (f: (p: PathResult) => number) => ({ baseline: f(direct) });
  const perThousand = (cpu: number): number => (cpu / mesh.rate.requests) * 1000;
  return [
    benchRow(
      'requests/s achieved',
      'req/s',
      mesh.rate.rps,
      vsDirect((p) => p.rate.rps),
    ),
    benchRow(
      'requests failed',
      '',
      mesh.rate.errors,
      vsDirect((p) => p.rate.errors),
    ),
    benchRow(
      'latency p50',
      'ms',
      mesh.rate.p50,
      vsDirect((p) => p.rate.p50),
    ),
    benchRow('latency p90', 'ms', mesh.rate.p90, { ...vsDirect((p) => p.rate.p90), goal: { op: '<=', limit: goals.addedP90Ms, on: 'added' } }),
    benchRow('latency p99', 'ms', mesh.rate.p99, { ...vsDirect((p) => p.rate.p99), goal: { op: '<=', limit: goals.addedP99Ms, on: 'added' } }),
    benchRow(`single-stream bulk (${flags.mib} MiB)`, 'MiB/s', mesh.bulk.mibPerSecond, {
      ...vsDirect((p) => p.bulk.mibPerSecond),
      goal: { op: '>=', limit: goals.bulkOfDirect, on: 'ratio' },
    }),
    ...nodes.map((n, i) => benchRow(`RSS idle, ztunnel ${n}`, 'MiB', zt.idleRss[i], { goal: { op: '<=', limit: goals.idleRssMiB } })),
    ...nodes.map((n, i) => benchRow(`RSS after the rate phase, ztunnel ${n}`, 'MiB', zt.rateRss[i], { goal: { op: '<=', limit: goals.rateRssMiB } })),
    ...nodes.map((n, i) => benchRow(`RSS after the bulk stream, ztunnel ${n}`, 'MiB', zt.bulkRss[i])),
    ...nodes.map((n, i) =>
      benchRow(`CPU s per 1000 requests, ztunnel ${n}`, 'CPU-s', perThousand(zt.cpu[i]!), { goal: { op: '<=', limit: goals.cpuPer1000 } }),
    ),
    benchRow('CPU s per 1000 requests, both ztunnels', 'CPU-s', perThousand(zt.cpu.reduce((s, v) => s + v, 0))),
    benchRow(
      'other work on the host during the rate phase',
      'cores',
      mesh.otherCores,
      vsDirect((p) => p.otherCores),
    ),
  ];
}

let bench: BenchCluster | undefined;
try {
  bench = await startBenchCluster('bench-ztunnel');
  const { cluster, core } = bench;
  const clusterId = cluster.network.clusterId;
  const { server, client } = await clientAndServer(bench);
  const inClient = loadIn(cluster, client);
  const url = `http://${server.status!.podIP}:8080/`;
  const sink = `${server.status!.podIP}:9000`;
  const rateArgs = ['rate', url, '--rps', String(flags.rps), '--seconds', String(flags.seconds), '--connections', '4'];
  const warmArgs = ['rate', url, '--rps', '50', '--seconds', '1', '--connections', '4'];
  const bulkArgs = ['bulk', sink, '--mib', String(flags.mib)];
  const ratePhase = async (pids: number[]) => {
    const { result, cpu, other } = await cpuDuring(pids, () => inClient(rateArgs), clusterId);
    return { rate: result, cpu, otherCores: other!.cores };
  };

  await inClient(warmArgs); // the server's listener, JIT
  const directRate = await ratePhase([]);
  const direct: PathResult = { ...directRate, bulk: await inClient<BulkResult>(bulkArgs) };

  await core.patchNamespace({ name: benchNamespace, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  await waitCaptured(cluster, [1, 1]);
  await inClient(warmArgs); // certificates, pools
  const zt = await ztunnelPids(bench);
  const pids = nodes.map((node) => zt.get(node)!);
  await sleep(idleSeconds * 1000);
  const idleRss = pids.map((pid) => memoryMiB(pid).rss);
  const meshRate = await ratePhase(pids);
  const rateRss = pids.map((pid) => memoryMiB(pid).rss);
  const mesh: PathResult = { ...meshRate, bulk: await inClient<BulkResult>(bulkArgs) };
  const bulkRss = pids.map((pid) => memoryMiB(pid).rss);

  rows.push(...ztunnelRows(direct, mesh, { idleRss, rateRss, bulkRss, cpu: meshRate.cpu }));
  for (const [name, path] of [
    ['direct', direct],
    ['mesh', mesh],
  ] as const) {
    if (path.rate.errors > 0) problems.push(`${name}: ${path.rate.errors} of ${path.rate.requests} requests failed`);
    // The load tool sends late requests at once, so only a starved client falls behind this far.
    if (path.rate.sendSeconds > flags.seconds * 1.1 + 0.1)
      problems.push(`${name}: the load tool took ${path.rate.sendSeconds.toFixed(2)} s to send ${flags.seconds} s of requests`);
  }
  if (direct.bulk.bytes !== mesh.bulk.bytes) problems.push(`the sink got ${direct.bulk.bytes} bytes directly but ${mesh.bulk.bytes} through the ztunnels`);
} catch (err) {
  problems.push(String(err));
  console.error(err);
} finally {
  await bench?.stop();
}
print(
  renderBenchTable(
    { rows, problems },
    {
      title: `\nztunnel data plane vs direct (local cluster, 2 nodes, node ${process.version}; ${flags.rps} req/s for ${flags.seconds} s, 1 KiB responses, 4 connections)`,
      baseline: 'direct',
      value: 'via 2 ztunnels',
    },
  ),
);
print(
  `  (RSS idle: enrolled, after the warm-up and ${idleSeconds} s without traffic; CPU: utime+stime of each ztunnel during the rate phase, per 1000 requests sent = vCPU at 1000 req/s)`,
);
writeBenchResult(benchResult('ztunnel', flags, rows, problems), json);
process.exit(problems.length ? 1 : 0);
