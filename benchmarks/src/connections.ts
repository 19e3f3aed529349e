// Connection scale: N concurrent idle connections from a client pod (node-1) to a server pod
// (node-2), both in the mesh, so each one is a captured socket in ztunnel node-1, an HBONE stream
// between the two ztunnels, and an upstream socket in ztunnel node-2. Reports each ztunnel's
// memory idle, with the N connections held, and again once they are closed and the pooled HBONE
// connections idled out: KiB per connection, and whether RSS returns within 10% of idle. The same connections
// held directly (namespace out of the mesh) are the same run's baseline for the client and server
// processes' own cost.
//
//   npm run bench -- connections
//   node benchmarks/src/connections.ts --connections 10000 --hold 20 --settle 75
import { nodeNetns } from '@ambient/local-cluster/runtime';
import {
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
  tableRow,
  until,
  waitCaptured,
  ztunnelPids,
} from './cluster-bench.ts';
import { numberFlags } from './number-flags.ts';

// settle: past the HBONE pool's idle timeout (60 s), which keeps the pooled HTTP/2 connections
// that carried the streams, and one malloc trim interval (10 s) more.
const flags = numberFlags({ connections: 10_000, hold: 20, settle: 75 });
const goalKiB = 16;
const bench = await startBenchCluster('bench-connections');
let failed = true;

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
  const pids = ['node-1', 'node-2'].map((node) => zt.get(node)!);
  const idleConnections = async (): Promise<boolean> =>
    (await ztunnelConnections(cluster.network.clusterId, 1)) === 0 && (await ztunnelConnections(cluster.network.clusterId, 2)) === 0;
  await until('the warm-up connections to close in both ztunnels', idleConnections, 60_000, 500);
  await sleep(12_000); // one malloc trim interval (10 s) and some
  const idle = pids.map(memoryMiB);

  const meshRun = hold<HoldResult>(holdArgs);
  await whileHolding(
    meshRun,
    `ztunnel node-1 to hold ${flags.connections} connections`,
    async () => (await ztunnelConnections(cluster.network.clusterId, 1)) >= flags.connections,
  );
  const held = pids.map(memoryMiB);
  const mesh = await meshRun;
  await until('the held connections to close in both ztunnels', idleConnections, 120_000, 500);
  await sleep(flags.settle * 1000);
  const after = pids.map(memoryMiB);

  const n = flags.connections;
  const kib = (i: number): number => ((held[i]!.rss - idle[i]!.rss) * 1024) / n;
  const back = (i: number): number => (after[i]!.rss - idle[i]!.rss) / idle[i]!.rss;
  const row = (label: string, cells: string[]): string => tableRow(label, cells, 46, [16, 16, 22]);
  console.log(
    `\nconnection scale (local cluster, 2 nodes, node ${process.version}; ${n} idle connections client (node-1) → server (node-2), held ${flags.hold} s)`,
  );
  console.log(row('', ['ztunnel node-1', 'ztunnel node-2', 'goal']));
  console.log(row('connections up / still open at the end', [`${mesh.up} / ${mesh.open}`, '', `${n} / ${n}`]));
  console.log(row('seconds to open them all', [mesh.establishSeconds.toFixed(1), '', '']));
  console.log(row('RSS idle (MiB)', idle.map((m) => m.rss.toFixed(1)).concat('')));
  console.log(row('RSS with the connections held (MiB)', held.map((m) => m.rss.toFixed(1)).concat('')));
  console.log(row(`RSS ${flags.settle} s after they closed (MiB)`, after.map((m) => m.rss.toFixed(1)).concat('')));
  console.log(row('KiB per connection (RSS)', [kib(0).toFixed(1), kib(1).toFixed(1), `≤ ${goalKiB}`]));
  console.log(row('back to idle RSS within', [`${(back(0) * 100).toFixed(1)}%`, `${(back(1) * 100).toFixed(1)}%`, '≤ 10%']));
  console.log(
    row('PSS idle / held / closed (MiB)', [0, 1].map((i) => `${idle[i]!.pss.toFixed(0)}/${held[i]!.pss.toFixed(0)}/${after[i]!.pss.toFixed(0)}`).concat('')),
  );
  console.log(
    `  baseline, same run, directly: ${direct.up} / ${direct.open} connections up / open; client + server RSS ${appIdle.toFixed(0)} → ${appHeldDirect.toFixed(0)} MiB (${(((appHeldDirect - appIdle) * 1024) / n).toFixed(1)} KiB per connection, both ends)`,
  );
  const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  console.log(
    `  goal ≤ ${goalKiB} KiB per connection: node-1 ${met(kib(0) <= goalKiB)}, node-2 ${met(kib(1) <= goalKiB)}; RSS back within 10%: node-1 ${met(back(0) <= 0.1)}, node-2 ${met(back(1) <= 0.1)}`,
  );
  failed = mesh.up !== n || mesh.open !== n || direct.up !== n;
  if (failed) console.log(`  failures: mesh ${JSON.stringify(mesh.failures ?? {})}, direct ${JSON.stringify(direct.failures ?? {})}`);
} catch (err) {
  console.error(err);
} finally {
  await bench.stop();
}
process.exit(failed ? 1 : 0);
