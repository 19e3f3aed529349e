// The data plane's cost, measured side by side in one run on the local cluster (root): the
// same client pod (node-1) and server pod (node-2), first directly, then with the namespace in
// the mesh (two ztunnels, HBONE/mTLS between the nodes). Reports requests/s and latency at a
// fixed rate (1 KiB responses, 4 keep-alive connections), single-stream bulk throughput, and
// ztunnel CPU seconds per 1000 requests and memory.
//
//   npm run bench -- ztunnel
//   node benchmarks/src/ztunnel-dataplane.ts --rps 500 --seconds 10 --mib 512
import {
  type BulkResult,
  benchNamespace,
  clientAndServer,
  cpuDuring,
  loadIn,
  memoryMiB,
  mergePatch,
  ms,
  startBenchCluster,
  tableRow,
  waitCaptured,
  ztunnelPids,
} from './cluster-bench.ts';
import { numberFlags } from './number-flags.ts';

const flags = numberFlags({ rps: 500, seconds: 10, mib: 512 });
const bench = await startBenchCluster('bench-ztunnel');
let failed = true;
try {
  const { cluster, core } = bench;
  const { server, client } = await clientAndServer(bench);
  const inClient = loadIn(cluster, client);
  const url = `http://${server.status!.podIP}:8080/`;
  const sink = `${server.status!.podIP}:9000`;
  const rateArgs = ['rate', url, '--rps', String(flags.rps), '--seconds', String(flags.seconds), '--connections', '4'];
  const bulkArgs = ['bulk', sink, '--mib', String(flags.mib)];

  await inClient(['rate', url, '--rps', '50', '--seconds', '1', '--connections', '4']); // the server's listener, JIT
  const direct = { rate: await inClient(rateArgs), bulk: await inClient<BulkResult>(bulkArgs) };

  await core.patchNamespace({ name: benchNamespace, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  await waitCaptured(cluster, [1, 1]);
  await inClient(['rate', url, '--rps', '50', '--seconds', '1', '--connections', '4']); // warm: certificates, pools
  const zt = await ztunnelPids(bench);
  const pids = ['node-1', 'node-2'].map((node) => zt.get(node)!);
  const { result: meshRate, cpu } = await cpuDuring(pids, () => inClient(rateArgs));
  const mesh = { rate: meshRate, bulk: await inClient<BulkResult>(bulkArgs) };
  const rssNow = pids.map((pid) => memoryMiB(pid).rss);

  const row = (name: string, d: string, m: string): string => tableRow(name, [d, m], 44, [14, 20]);
  console.log(
    `\nztunnel data plane vs direct (local cluster, 2 nodes, node ${process.version}; ${flags.rps} req/s for ${flags.seconds} s, 1 KiB responses, 4 connections)`,
  );
  console.log(row('', 'direct', 'via 2 ztunnels'));
  console.log(
    row('requests/s achieved (errors)', `${direct.rate.rps.toFixed(0)} (${direct.rate.errors})`, `${mesh.rate.rps.toFixed(0)} (${mesh.rate.errors})`),
  );
  console.log(row('latency p50', ms(direct.rate.p50), ms(mesh.rate.p50)));
  console.log(row('latency p90', ms(direct.rate.p90), ms(mesh.rate.p90)));
  console.log(row('latency p99', ms(direct.rate.p99), ms(mesh.rate.p99)));
  console.log(row(`single-stream bulk (${flags.mib} MiB)`, `${direct.bulk.mibPerSecond.toFixed(0)} MiB/s`, `${mesh.bulk.mibPerSecond.toFixed(0)} MiB/s`));
  const cpuTotal = cpu.reduce((s, v) => s + v, 0);
  console.log(row('ztunnel CPU seconds per 1000 requests (both)', '-', `${((cpuTotal / mesh.rate.requests) * 1000).toFixed(3)} s`));
  console.log(row('ztunnel RSS (node-1, node-2)', '-', rssNow.map((v) => `${v.toFixed(0)} MiB`).join(', ')));
  failed = direct.rate.errors > 0 || mesh.rate.errors > 0 || direct.bulk.bytes !== mesh.bulk.bytes;
} catch (err) {
  console.error(err);
} finally {
  await bench.stop();
}
process.exit(failed ? 1 : 0);
