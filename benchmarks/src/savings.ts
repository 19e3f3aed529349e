// The memory-savings benchmark: sidecar mode against ambient mode on the local cluster (root).
// For each N application pods (spread over 3 nodes, one Service each, 24 per namespace), three
// modes in turn, each under the same request load from 3 load pods in the mesh:
//   sidecar           every pod (apps and load pods) gets an injected istio-proxy
//   ambient-l4        the namespaces are ambient: the 3 ztunnels carry everything
//   ambient-waypoint  plus one waypoint per application namespace (every request through it)
// and measures every proxy process: RSS and PSS (smaps_rollup), CPU seconds during the load, and
// the latency of that load. Writes the report (Markdown, HTML, charts, JSON) to --out.
//
//   npm run bench -- savings [--pods 24,48,96,144] [--modes sidecar,ambient-l4,ambient-waypoint]
//                            [--rps-per-pod 2] [--seconds 20] [--out benchmarks/results] [--max-minutes 25]
//
// A step that fails (pods that do not start, memory that will not fit, the time budget) stops
// the run: the cluster is torn down and a report marked partial says at which N and why.
// Ctrl-C tears everything down.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { clusterProcesses } from '@ambient/local-cluster/runtime';
import { loadIn, mergePatch, startBenchCluster, until, waitCaptured, ztunnelPids } from './cluster-bench.ts';
import { cpuSecondsBetween, readProcSample } from './savings/proc-sample.ts';
import { SavingsProgress } from './savings/progress.ts';
import { defaultResultsDir, writeSavingsReport } from './savings/report.ts';
import { SAVINGS_MODES, SAVINGS_PODS, type ProxySample, type SavingsMode, type SavingsPoint, type SavingsRun } from './savings/savings-result.ts';

const allModes: readonly SavingsMode[] = SAVINGS_MODES;
const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: SAVINGS_PODS.join(',') },
    modes: { type: 'string', default: allModes.join(',') },
    'rps-per-pod': { type: 'string', default: '2' },
    seconds: { type: 'string', default: '20' },
    out: { type: 'string', default: defaultResultsDir },
    'max-minutes': { type: 'string', default: '25' },
  },
});
const podCounts = values.pods.split(',').map(Number);
const modes = values.modes.split(',') as SavingsMode[];
const rpsPerPod = Number(values['rps-per-pod']);
const seconds = Number(values.seconds);
const maxMinutes = Number(values['max-minutes']);
const bad = [
  ...podCounts.filter((n) => !Number.isInteger(n) || n < 1 || n > 300).map((n) => `--pods: ${n} is not a pod count from 1 to 300`),
  ...modes.filter((m) => !allModes.includes(m)).map((m) => `--modes: unknown mode '${m}' (known: ${allModes.join(', ')})`),
  ...(rpsPerPod > 0 && rpsPerPod <= 50 ? [] : ['--rps-per-pod must be above 0 and at most 50']),
  ...(seconds >= 1 && seconds <= 600 ? [] : ['--seconds must be from 1 to 600']),
  ...(maxMinutes > 0 ? [] : ['--max-minutes must be above 0']),
];
if (bad.length > 0) {
  console.error(bad.join('\n'));
  process.exit(2);
}

const nodes = 3;
const perNamespace = 24;
const loadNamespace = 'savings-load';
const appScript = join(import.meta.dirname, 'savings-app.py');
const idle = [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'];
const appNamespaces = (n: number): string[] => Array.from({ length: Math.ceil(n / perNamespace) }, (_, i) => `savings-${i + 1}`);
const podNamespace = (i: number): string => `savings-${Math.floor(i / perNamespace) + 1}`;
/** Estimated resident memory per pod in sidecar mode (an app and its proxy), to refuse an N that cannot fit. */
const sidecarPodMiB = 130;

const started = Date.now();
const run: SavingsRun = {
  partial: false,
  plan: { modes, pods: podCounts },
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memTotalBytes: os.totalmem(), kernel: os.release(), os: osName() },
  versions: { node: process.version, mesh: readJson(join(import.meta.dirname, '../../package.json')).version ?? '0.1.0', python: pythonVersion() },
  commands: [`npm run bench -- savings ${process.argv.slice(2).join(' ')}`.trim()],
  load: { rpsPerPod, bodyBytes: 1024, seconds },
  startedAt: new Date(started).toISOString(),
  finishedAt: '',
  points: [],
};

function readJson(path: string): { version?: string } {
  return JSON.parse(readFileSync(path, 'utf8')) as { version?: string };
}
function osName(): string {
  const pretty = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
  return pretty?.[1] ?? os.type();
}
function pythonVersion(): string {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return 'python3 (version unknown)';
  }
}
function memAvailableMiB(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024;
}

const bench = await startBenchCluster('bench-savings', { nodes });
const { cluster, core } = bench;
const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
const progress = new SavingsProgress(podCounts.length * modes.length);

/** The pid of a pod's named container (`local://<pid>`; a sidecar is an init container), checked to be one of this cluster's processes. */
function containerPidOf(pod: V1Pod, container: string): number {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const id = statuses.find((s) => s.name === container)?.containerID ?? '';
  const pid = Number(id.replace('local://', ''));
  if (!Number.isInteger(pid) || pid <= 0 || !clusterProcesses(cluster.network.clusterId).some((p) => p.pid === pid))
    throw new Error(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no running ${container} container`);
  return pid;
}

async function labelNamespaces(names: string[], labels: Record<string, string | null>): Promise<void> {
  await applyManifests(
    cluster.kubeConfig,
    names.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    'savings-bench',
  );
  for (const name of names) await core.patchNamespace({ name, body: { metadata: { labels } } }, mergePatch);
}

async function podsOf(namespaces: string[]): Promise<V1Pod[]> {
  return (await Promise.all(namespaces.map((namespace) => core.listNamespacedPod({ namespace })))).flatMap((l) => l.items);
}

/** N app pods with a Service each, and one load pod per node; resolves with each app's ClusterIP. */
async function createPods(n: number): Promise<string[]> {
  const objects: object[] = [];
  for (let i = 0; i < n; i++) {
    const name = `app-${i}`;
    const namespace = podNamespace(i);
    objects.push(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace, labels: { app: name } },
        spec: { nodeName: `node-${(i % nodes) + 1}`, containers: [{ name: 'app', image: 'python:3', command: ['python3', appScript] }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace },
        spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    );
  }
  for (let j = 1; j <= nodes; j++) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `load-${j}`, namespace: loadNamespace, labels: { app: 'load' } },
      spec: { nodeName: `node-${j}`, containers: [{ name: 'load', image: 'node:24', command: idle }] },
    });
  }
  await applyManifests(cluster.kubeConfig, objects as never, 'savings-bench');
  const namespaces = [...appNamespaces(n), loadNamespace];
  await until(
    `${n + nodes} pods to run`,
    async () => {
      const pods = await podsOf(namespaces);
      return (
        pods.length === n + nodes &&
        pods.every((p) => p.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.every((c) => c.state?.running))
      );
    },
    60_000 + n * 1_500,
    1_000,
  );
  return Promise.all(
    Array.from({ length: n }, async (_, i) => (await core.readNamespacedService({ name: `app-${i}`, namespace: podNamespace(i) })).spec!.clusterIP!),
  );
}

async function deletePods(n: number): Promise<void> {
  const namespaces = [...appNamespaces(n), loadNamespace];
  for (const namespace of namespaces) {
    await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
    for (const s of (await core.listNamespacedService({ namespace })).items) await core.deleteNamespacedService({ name: s.metadata!.name!, namespace });
  }
  await until('the pods to go', async () => (await podsOf(namespaces)).length === 0, 120_000, 1_000);
}

async function addWaypoints(n: number): Promise<V1Pod[]> {
  const namespaces = appNamespaces(n);
  await applyManifests(
    cluster.kubeConfig,
    namespaces.map((namespace) => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    })) as never,
    'savings-bench',
  );
  await labelNamespaces(namespaces, { 'istio.io/use-waypoint': 'waypoint' });
  return until(
    'a running waypoint in every application namespace',
    async () => {
      const pods = (await podsOf(namespaces)).filter((p) => p.metadata?.labels?.['gateway.networking.k8s.io/gateway-name'] === 'waypoint');
      return pods.length === namespaces.length && pods.every((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running) && pods;
    },
    120_000,
    1_000,
  );
}

async function removeWaypoints(n: number): Promise<void> {
  const namespaces = appNamespaces(n);
  await labelNamespaces(namespaces, { 'istio.io/use-waypoint': null });
  for (const namespace of namespaces)
    await custom.deleteNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', namespace, name: 'waypoint' });
}

/** Pods per node (node-1 first): the apps spread round-robin, plus one load pod each. */
function capturedPerNode(n: number): number[] {
  return Array.from({ length: nodes }, (_, j) => Math.floor(n / nodes) + (j < n % nodes ? 1 : 0) + 1);
}

/** Each load pod's share of the apps (those on its own node's index), as URLs. */
function shares(vips: string[]): string[][] {
  return Array.from({ length: nodes }, (_, j) => vips.filter((_, i) => i % nodes === j).map((vip) => `http://${vip}/`));
}

interface LoadResult {
  requests: number;
  errors: number;
  failures?: Record<string, number>;
  latencies: number[];
}

/** Runs the load from every load pod at once; the same offered load in every mode. */
async function drive(vips: string[], rps: number, secs: number): Promise<LoadResult[]> {
  const loaders = await core.listNamespacedPod({ namespace: loadNamespace });
  const byName = new Map(loaders.items.map((p) => [p.metadata!.name!, p]));
  return Promise.all(
    shares(vips).map((urls, j) => {
      if (urls.length === 0) return { requests: 0, errors: 0, latencies: [] };
      const pod = byName.get(`load-${j + 1}`)!;
      const args = ['rate', urls.join(','), '--rps', String(rps * urls.length), '--seconds', String(secs), '--connections', '1', '--raw'];
      return loadIn(cluster, pod)<LoadResult>(args);
    }),
  );
}

/** Until every app answers through the mesh from its load pod (proxies up, certificates issued, routes known). */
async function warmUp(vips: string[]): Promise<void> {
  await until('every app to answer through the mesh', async () => (await drive(vips, 2, 1)).every((r) => r.errors === 0), 120_000 + vips.length * 500, 2_000);
}

function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

async function proxiesOf(mode: SavingsMode, n: number, waypoints: V1Pod[]): Promise<{ kind: ProxySample['kind']; name: string; pid: number }[]> {
  if (mode === 'sidecar') {
    const pods = await podsOf([...appNamespaces(n), loadNamespace]);
    return pods.map((p) => ({ kind: 'sidecar' as const, name: `${p.metadata!.namespace}/${p.metadata!.name}`, pid: containerPidOf(p, 'istio-proxy') }));
  }
  const ztunnels = [...(await ztunnelPids(bench))].map(([node, pid]) => ({ kind: 'ztunnel' as const, name: `ztunnel ${node}`, pid }));
  return [
    ...ztunnels,
    ...waypoints.map((p) => ({ kind: 'waypoint' as const, name: `${p.metadata!.namespace}/${p.metadata!.name}`, pid: containerPidOf(p, 'waypoint') })),
  ];
}

async function measure(mode: SavingsMode, n: number, vips: string[], waypoints: V1Pod[]): Promise<SavingsPoint> {
  const proxies = await proxiesOf(mode, n, waypoints);
  const before = proxies.map((p) => readProcSample(p.pid));
  const t0 = performance.now();
  const results = await drive(vips, rpsPerPod, seconds);
  const durationSeconds = (performance.now() - t0) / 1000;
  const samples: ProxySample[] = proxies.map((p, i) => {
    const s = readProcSample(p.pid);
    return { ...p, rssBytes: s.rssBytes, pssBytes: s.pssBytes, cpuSeconds: cpuSecondsBetween(before[i]!, s) };
  });
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const sent = results.reduce((a, r) => a + r.requests, 0);
  const failed = results.reduce((a, r) => a + r.errors, 0);
  const failures: Record<string, number> = {};
  for (const [why, count] of results.flatMap((r) => Object.entries(r.failures ?? {}))) failures[why] = (failures[why] ?? 0) + count;
  return {
    mode,
    pods: n,
    proxies: samples,
    latencyMs: { p50: quantile(latencies, 0.5), p90: quantile(latencies, 0.9), p99: quantile(latencies, 0.99) },
    requests: { sent, ok: sent - failed, failed, ...(failed > 0 ? { failures } : {}) },
    durationSeconds,
  };
}

async function setMode(mode: SavingsMode, n: number): Promise<void> {
  const namespaces = [...appNamespaces(n), loadNamespace];
  if (mode === 'sidecar') await labelNamespaces(namespaces, { 'istio-injection': 'enabled', 'istio.io/dataplane-mode': null });
  else await labelNamespaces(namespaces, { 'istio-injection': null, 'istio.io/dataplane-mode': 'ambient' });
}

try {
  outer: for (const n of podCounts) {
    let vips: string[] | undefined;
    for (const mode of modes) {
      progress.step(mode, n);
      const elapsedMin = (Date.now() - started) / 60_000;
      if (elapsedMin > maxMinutes) {
        run.partial = true;
        run.partialReason = `stopped before ${mode} at N=${n}: the time budget of ${maxMinutes} min is spent (${elapsedMin.toFixed(1)} min)`;
        break outer;
      }
      if (mode === 'sidecar' && (n + nodes) * sidecarPodMiB > memAvailableMiB() * 0.9) {
        run.partial = true;
        run.partialReason = `stopped at N=${n} (sidecar): about ${((n + nodes) * sidecarPodMiB) / 1024} GiB would be needed, ${(memAvailableMiB() / 1024).toFixed(1)} GiB is available`;
        break outer;
      }
      try {
        let waypoints: V1Pod[] = [];
        // Ambient modes share their pods; sidecar mode needs its own (injection happens at creation).
        if (mode === 'sidecar' || vips === undefined) {
          await setMode(mode, n);
          vips = await createPods(n);
          // A sidecar pod's app starts only once its proxy captured it; an ambient pod's traffic
          // is its ztunnel's once captured: until then it would go around the mesh.
          if (mode !== 'sidecar') await waitCaptured(cluster, capturedPerNode(n), 60_000 + n * 1_000);
        }
        if (mode === 'ambient-waypoint') waypoints = await addWaypoints(n);
        await warmUp(vips);
        run.points.push(await measure(mode, n, vips, waypoints));
        if (mode === 'ambient-waypoint') await removeWaypoints(n);
        if (mode === 'sidecar') {
          await deletePods(n);
          vips = undefined;
        }
      } catch (err) {
        run.partial = true;
        run.failed = { mode, pods: n, reason: (err as Error).message };
        run.partialReason = `stopped at N=${n} (${mode}): ${(err as Error).message}`;
        break outer;
      }
    }
    if (vips !== undefined) await deletePods(n);
  }
} finally {
  progress.finish(run.partial ? 'partial' : 'done');
  run.finishedAt = new Date().toISOString();
  await bench.stop();
  const written = await writeSavingsReport(run, { dir: resolve(values.out) });
  for (const f of written.files) console.log(f);
  if (run.partial) console.log(`partial: ${run.partialReason}`);
}
process.exit(run.partial ? 1 : 0);
