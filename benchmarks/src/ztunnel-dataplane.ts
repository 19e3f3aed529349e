// The data plane's cost, measured side by side in one run on the local cluster (root): the
// same client pod (node-1) and server pod (node-2), first directly, then with the namespace in
// the mesh (two ztunnels, HBONE/mTLS between the nodes). Reports requests/s and latency at a
// fixed rate (1 KiB responses, 4 keep-alive connections), single-stream bulk throughput, and
// ztunnel CPU seconds per 1000 requests and memory.
//
//   npm run bench -- ztunnel
//   node benchmarks/src/ztunnel-dataplane.ts --rps 500 --seconds 10 --mib 512
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { startCluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess } from '@ambient/local-cluster/mesh';
import { execInNetns, nodeNetns, podNetns } from '@ambient/local-cluster/runtime';

const { values } = parseArgs({
  options: { rps: { type: 'string', default: '500' }, seconds: { type: 'string', default: '10' }, mib: { type: 'string', default: '512' } },
});
const load = join(import.meta.dirname, 'load.ts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const dataDir = mkdtempSync(join(tmpdir(), 'bench-ztunnel-'));
const cluster = await startCluster({ dataDir, nodes: 2, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
let failed = false;
try {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const pod = (name: string, node: string, command: string[]) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'bench' },
    spec: { nodeName: node, containers: [{ name, image: 'x', command }] },
  });
  await applyManifests(
    cluster.kubeConfig,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } },
      pod('server', 'node-2', [process.execPath, load, 'serve']),
      pod('client', 'node-1', [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)']),
    ] as never,
    'bench',
  );
  await deployZtunnel(cluster);
  let server: V1Pod;
  let client: V1Pod;
  const deadline = Date.now() + 60_000;
  for (;;) {
    [server, client] = [
      await core.readNamespacedPod({ name: 'server', namespace: 'bench' }),
      await core.readNamespacedPod({ name: 'client', namespace: 'bench' }),
    ];
    if (server.status?.phase === 'Running' && client.status?.phase === 'Running') break;
    if (Date.now() > deadline) throw new Error('the bench pods did not start in 60 s');
    await sleep(200);
  }
  await sleep(500); // the server's listeners
  // biome-ignore lint/suspicious/noExplicitAny: the load tool's untyped JSON report, printed as it is
  const inClient = async (args: string[]): Promise<any> => {
    const r = await execInNetns(podNetns(cluster.network.clusterId, client.metadata!.uid!), [process.execPath, load, ...args], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`load ${args[0]} failed: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  };
  const ztunnelPids = async (): Promise<number[]> =>
    (await core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=ztunnel' })).items.map((p) =>
      Number(String(p.status?.containerStatuses?.[0]?.containerID).replace('local://', '')),
    );
  const cpuSeconds = (pid: number): number => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  };
  const rss = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  const url = `http://${server.status!.podIP}:8080/`;
  const sink = `${server.status!.podIP}:9000`;
  const rateArgs = ['rate', url, '--rps', values.rps, '--seconds', values.seconds, '--connections', '4'];

  const direct = { rate: await inClient(rateArgs), bulk: await inClient(['bulk', sink, '--mib', values.mib]) };

  await core.patchNamespace({ name: 'bench', body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  for (let i = 0; i < 100; i++) {
    const dump = await execInNetns(nodeNetns(cluster.network.clusterId, 1), [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:15000/config_dump').then(r => r.json()).then(j => process.stdout.write(String(j.captured.length)))",
    ]);
    const dump2 = await execInNetns(nodeNetns(cluster.network.clusterId, 2), [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:15000/config_dump').then(r => r.json()).then(j => process.stdout.write(String(j.captured.length)))",
    ]);
    if (dump.stdout === '1' && dump2.stdout === '1') break;
    await sleep(200);
  }
  await inClient(['rate', url, '--rps', '50', '--seconds', '1', '--connections', '4']); // warm: certificates, pools
  const pids = await ztunnelPids();
  const cpu0 = pids.map(cpuSeconds);
  const meshRate = await inClient(rateArgs);
  const cpu = pids.map(cpuSeconds).reduce((s, v, i) => s + v - cpu0[i]!, 0);
  const mesh = { rate: meshRate, bulk: await inClient(['bulk', sink, '--mib', values.mib]) };
  const rssNow = pids.map(rss);

  const row = (name: string, d: string, m: string): string => `  ${name.padEnd(44)} ${d.padStart(14)} ${m.padStart(20)}`;
  const ms = (v: number): string => `${v.toFixed(2)} ms`;
  console.log(
    `\nztunnel data plane vs direct (local cluster, 2 nodes, node ${process.version}; ${values.rps} req/s for ${values.seconds} s, 1 KiB responses, 4 connections)`,
  );
  console.log(row('', 'direct', 'via 2 ztunnels'));
  console.log(
    row('requests/s achieved (errors)', `${direct.rate.rps.toFixed(0)} (${direct.rate.errors})`, `${mesh.rate.rps.toFixed(0)} (${mesh.rate.errors})`),
  );
  console.log(row('latency p50', ms(direct.rate.p50), ms(mesh.rate.p50)));
  console.log(row('latency p90', ms(direct.rate.p90), ms(mesh.rate.p90)));
  console.log(row('latency p99', ms(direct.rate.p99), ms(mesh.rate.p99)));
  console.log(row(`single-stream bulk (${values.mib} MiB)`, `${direct.bulk.mibPerSecond.toFixed(0)} MiB/s`, `${mesh.bulk.mibPerSecond.toFixed(0)} MiB/s`));
  console.log(row('ztunnel CPU seconds per 1000 requests (both)', '-', `${((cpu / mesh.rate.requests) * 1000).toFixed(3)} s`));
  console.log(row('ztunnel RSS (node-1, node-2)', '-', rssNow.map((v) => `${v.toFixed(0)} MiB`).join(', ')));
  failed = direct.rate.errors > 0 || mesh.rate.errors > 0 || direct.bulk.bytes !== mesh.bulk.bytes;
} finally {
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
