// Connection scale: N concurrent idle connections from a client pod (node-1) to a server pod
// (node-2), both in the mesh, so each one is a captured socket in ztunnel node-1, an HBONE stream
// between the two ztunnels, and an upstream socket in ztunnel node-2. Reports each ztunnel's
// memory idle, with the N connections held, and again once they are closed and the pooled HBONE
// connections idled out: KiB per connection, and whether RSS returns within 10% of idle. The same connections
// held directly (namespace out of the mesh) are the same run's baseline for the client and server
// processes' own cost. The goals beside the figures are the performance issue's.
//
//   npm run bench -- connections
//   node benchmarks/src/connections.ts --connections 10000 --hold 20 --settle 75 [--json FILE|-]
import { nodeNetns } from '@ambient/local-cluster/runtime';
import { benchResult, humanOutput, writeBenchResult } from './bench-output.ts';
import { type BenchRow, benchRow, renderBenchTable } from './bench-result.ts';
import {
  type BenchCluster,
  benchNamespace,
  clientAndServer,
  configDumpIn,
  containerPid,
  loadIn,
  memoryMiB,
  mergePatch,
  nodeScriptIn,
  podNetnsOf,
  sleep,
  startBenchCluster,
  until,
  waitCaptured,
  ztunnelPids,
} from './cluster-bench.ts';
import { benchFlags } from './number-flags.ts';

// settle: past the HBONE pool's idle timeout (60 s), which keeps the pooled HTTP/2 connections
// that carried the streams, and one malloc trim interval (10 s) more.
const { flags, json } = benchFlags({ connections: 10_000, hold: 20, settle: 75 });
/** The performance issue's goals: each ztunnel's RSS per connection held, and how far above
 *  idle its RSS may stay once they closed (percent). */
const goals = { kibPerConnection: 16, backToIdlePercent: 10 };
const nodes = ['node-1', 'node-2'];
const print = humanOutput(json);
const rows: BenchRow[] = [];
const problems: string[] = [];
let bench: BenchCluster | undefined;

interface HoldResult {
  connections: number;
  up: number;
  open: number;
  establishSeconds: number;
  failures?: Record<string, number>;
}

/** Connections ztunnel on `node` (1-based) holds for its captured pods: outbound, HBONE streams, plaintext. */
async function ztunnelConnections(clusterId: string, node: number): Promise<number> {
  const { captured } = await configDumpIn(nodeNetns(clusterId, node));
  return captured.reduce((a, p) => a + p.connections.outbound + p.connections.hbone + p.connections.plaintext, 0);
}

/** Established TCP connections to local `port` in a netns (its /proc/net/tcp and tcp6: a server
 *  listening on every address takes IPv4 connections on a dual-stack socket), read from inside. */
async function establishedTo(netns: string, port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const script = `const fs = require('fs'); process.stdout.write(String(['tcp', 'tcp6'].flatMap((t) => fs.readFileSync('/proc/net/' + t, 'utf8').split('\\n')).filter((l) => { const f = l.trim().split(/\\s+/); return f[1]?.endsWith(':${hex}') && f[3] === '01'; }).length))`;
  return Number(await nodeScriptIn(netns, script));
}

/** Waits for `cond` while the hold run is still going; a run that ends first is an error with its result. */
async function whileHolding(run: Promise<HoldResult>, what: string, cond: () => Promise<boolean>): Promise<void> {
  let ended: HoldResult | undefined;
  void run.then((r) => (ended = r)).catch(() => undefined);
  await until(what, async () => ended !== undefined || cond(), 300_000, 500);
  if (ended !== undefined) throw new Error(`the hold ended before ${what}: ${JSON.stringify(ended)}`);
}

try {
  bench = await startBenchCluster('bench-connections');
  const { cluster, core } = bench;
  const { server, client } = await clientAndServer(bench);
  const hold = loadIn(cluster, client);
  const target = `${server.status!.podIP}:9001`;
  const holdArgs = ['hold', target, '--connections', String(flags.connections), '--seconds', String(flags.hold)];
  const processes = [containerPid(cluster, client), containerPid(cluster, server)];
  const appMiB = (): number => processes.reduce((a, pid) => a + memoryMiB(pid).rss, 0);

  // Baseline: the same connections, directly. The apps' own memory per connection.
  await hold<HoldResult>(['hold', target, '--connections', '100', '--seconds', '0']); // JIT
  const appIdle = appMiB();
  const directRun = hold<HoldResult>(holdArgs);
  await whileHolding(
    directRun,
    `the server to hold ${flags.connections} connections`,
    async () => (await establishedTo(podNetnsOf(cluster, server), 9001)) >= flags.connections,
  );
  const appHeldDirect = appMiB();
  const direct = await directRun;

  await core.patchNamespace({ name: benchNamespace, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  await waitCaptured(cluster, [1, 1]);
  await hold<HoldResult>(['hold', target, '--connections', '100', '--seconds', '0']); // certificates, pools, JIT
  const zt = await ztunnelPids(bench);
  const pids = nodes.map((node) => zt.get(node)!);
  const idleConnections = async (): Promise<boolean> =>
    (await ztunnelConnections(cluster.network.clusterId, 1)) === 0 && (await ztunnelConnections(cluster.network.clusterId, 2)) === 0;
  await until('the warm-up connections to close in both ztunnels', idleConnections, 60_000, 500);
  await sleep(12_000); // one malloc trim interval (10 s) and some
  const idle = pids.map(memoryMiB);
  const appIdleMesh = appMiB();

  const meshRun = hold<HoldResult>(holdArgs);
  await whileHolding(
    meshRun,
    `ztunnel node-1 to hold ${flags.connections} connections`,
    async () => (await ztunnelConnections(cluster.network.clusterId, 1)) >= flags.connections,
  );
  const held = pids.map(memoryMiB);
  const appHeldMesh = appMiB();
  const mesh = await meshRun;
  await until('the held connections to close in both ztunnels', idleConnections, 120_000, 500);
  await sleep(flags.settle * 1000);
  const after = pids.map(memoryMiB);

  const n = flags.connections;
  const perConnection = (from: number, to: number): number => ((to - from) * 1024) / n;
  const each = (figure: string, unit: string, value: (i: number) => number, goal?: BenchRow['goal']): BenchRow[] =>
    nodes.map((node, i) => benchRow(`${figure}, ztunnel ${node}`, unit, value(i), goal ? { goal } : {}));
  rows.push(
    benchRow('connections up', '', mesh.up, { baseline: direct.up }),
    benchRow('connections still open at the end of the hold', '', mesh.open, { baseline: direct.open }),
    benchRow('seconds to open them all', 's', mesh.establishSeconds, { baseline: direct.establishSeconds }),
    benchRow('client + server apps, KiB per connection (RSS, both ends)', 'KiB', perConnection(appIdleMesh, appHeldMesh), {
      baseline: perConnection(appIdle, appHeldDirect),
    }),
    ...each('RSS idle', 'MiB', (i) => idle[i]!.rss),
    ...each('RSS with the connections held', 'MiB', (i) => held[i]!.rss),
    ...each(`RSS ${flags.settle} s after they closed`, 'MiB', (i) => after[i]!.rss),
    ...each('PSS idle', 'MiB', (i) => idle[i]!.pss),
    ...each('PSS with the connections held', 'MiB', (i) => held[i]!.pss),
    ...each(`PSS ${flags.settle} s after they closed`, 'MiB', (i) => after[i]!.pss),
    ...each('KiB per connection (RSS)', 'KiB', (i) => perConnection(idle[i]!.rss, held[i]!.rss), { op: '<=', limit: goals.kibPerConnection }),
    ...each(`RSS above idle ${flags.settle} s after they closed`, '%', (i) => ((after[i]!.rss - idle[i]!.rss) / idle[i]!.rss) * 100, {
      op: '<=',
      limit: goals.backToIdlePercent,
    }),
  );
  for (const [name, r] of [
    ['direct', direct],
    ['mesh', mesh],
  ] as const) {
    if (r.up !== n || r.open !== n)
      problems.push(`${name}: ${r.up} of ${n} connections up, ${r.open} still open at the end; failures ${JSON.stringify(r.failures ?? {})}`);
  }
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
      title: `\nconnection scale (local cluster, 2 nodes, node ${process.version}; ${flags.connections} idle connections client (node-1) → server (node-2), held ${flags.hold} s)`,
      baseline: 'direct',
      value: 'via 2 ztunnels',
    },
  ),
);
writeBenchResult(benchResult('connections', flags, rows, problems), json);
process.exit(problems.length ? 1 : 0);
