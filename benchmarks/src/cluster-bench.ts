// What the data-plane benchmarks share on the local cluster (root): a 2-node cluster with
// istiod-lite and its own temporary data directory, bench pods pinned to nodes, the load tool
// (`load.ts`) run inside a pod's netns, the proxies' processes with their CPU and memory read
// from /proc, bounded waits, and the table layout. Every wait has a deadline; `stop` (also run
// on SIGINT/SIGTERM) removes the cluster and its data directory.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { startCluster, type Cluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess } from '@ambient/local-cluster/mesh';
import { clusterProcesses, execInNetns, nodeNetns, podNetns } from '@ambient/local-cluster/runtime';

export const loadTool = join(import.meta.dirname, 'load.ts');
export const benchNamespace = 'bench';
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws with `what` (and the last error) after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

export interface BenchCluster {
  cluster: Cluster;
  core: CoreV1Api;
  stop(): Promise<void>;
}

/** A cluster (2 nodes unless told) with istiod-lite and ztunnel deployed (ztunnel captures
 *  nothing until a namespace is enrolled), in a fresh temporary data directory. */
export async function startBenchCluster(prefix: string, opts: { nodes?: number } = {}): Promise<BenchCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  let cluster: Cluster | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      try {
        await cluster?.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    })());
  const onSignal = (): void => void stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    cluster = await startCluster({ dataDir, nodes: opts.nodes ?? 2, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
    await deployZtunnel(cluster);
  } catch (err) {
    await stop();
    throw err;
  }
  return { cluster, core: cluster.kubeConfig.makeApiClient(CoreV1Api), stop };
}

/** A bench pod pinned to a node; its one container runs `command`. */
export function benchPod(name: string, node: string, command: string[], labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: benchNamespace, labels },
    spec: { nodeName: node, containers: [{ name, image: 'x', command }] },
  };
}

/** An idle client pod: the load tool is exec'd into its netns per phase. */
export const idleCommand = [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'];
export const serveCommand = [process.execPath, loadTool, 'serve'];

/** Waits until the named bench pods run with an IP; returns them in the order asked. */
export function runningPods(core: CoreV1Api, names: string[], timeoutMs = 60_000): Promise<V1Pod[]> {
  return until(
    `the bench pods ${names.join(', ')} to run`,
    async () => {
      const pods = await Promise.all(names.map((name) => core.readNamespacedPod({ name, namespace: benchNamespace })));
      return pods.every((p) => p.status?.phase === 'Running' && p.status.podIP) && pods;
    },
    timeoutMs,
  );
}

/** The bench namespace with a server pod (the load tool's `serve`) on node-2 and an idle client on node-1, once both run. */
export async function clientAndServer(bench: BenchCluster): Promise<{ server: V1Pod; client: V1Pod }> {
  await applyManifests(
    bench.cluster.kubeConfig,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: benchNamespace } },
      benchPod('server', 'node-2', serveCommand),
      benchPod('client', 'node-1', idleCommand),
    ] as never,
    'bench',
  );
  const [server, client] = (await runningPods(bench.core, ['server', 'client'])) as [V1Pod, V1Pod];
  return { server, client };
}

/** `rate` results of the load tool (latencies in ms). */
export interface RateResult {
  requests: number;
  errors: number;
  seconds: number;
  /** When the last request went out, from the first: about --seconds when the generator kept its rate. */
  sendSeconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  /** Responses carrying the header named by `--header`, when asked. */
  withHeader?: number;
}

export interface BulkResult {
  bytes: number;
  seconds: number;
  mibPerSecond: number;
}

/** Runs the load tool inside a pod's netns and returns its JSON line. */
export function loadIn(cluster: Cluster, pod: V1Pod): <T = RateResult>(args: string[]) => Promise<T> {
  const netns = podNetns(cluster.network.clusterId, pod.metadata!.uid!);
  return async <T>(args: string[]): Promise<T> => {
    const r = await execInNetns(netns, [process.execPath, loadTool, ...args], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`load ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
  };
}

/** Runs a short Node script inside a netns (a pod's or a node's) and returns its stdout. */
export async function nodeScriptIn(netns: string, script: string, timeoutMs = 10_000): Promise<string> {
  const r = await execInNetns(netns, [process.execPath, '-e', script], { timeoutMs });
  if (r.code !== 0) throw new Error(`script in ${netns} exited ${r.code}: ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

export const podNetnsOf = (cluster: Cluster, pod: V1Pod): string => podNetns(cluster.network.clusterId, pod.metadata!.uid!);

/** What the benchmarks read of a ztunnel's `/config_dump`. */
export interface ZtunnelDump {
  captured: { connections: { outbound: number; hbone: number; plaintext: number } }[];
}

/** The admin `/config_dump` of the proxy listening on 127.0.0.1:15000 in a netns (a node's ztunnel, a waypoint pod's). */
export async function configDumpIn<T = ZtunnelDump>(netns: string): Promise<T> {
  return JSON.parse(await nodeScriptIn(netns, "fetch('http://127.0.0.1:15000/config_dump').then(r => r.text()).then(t => process.stdout.write(t))")) as T;
}

/** Waits until each node's ztunnel has captured `perNode[i]` pods (node-1 first), from its config_dump. */
export async function waitCaptured(cluster: Cluster, perNode: number[], timeoutMs = 30_000): Promise<void> {
  await until(
    `ztunnel to capture ${perNode.join(', ')} pods on node-1..${perNode.length}`,
    async () => {
      const dumps = await Promise.all(perNode.map((_, i) => configDumpIn(nodeNetns(cluster.network.clusterId, i + 1))));
      return dumps.every((d, i) => d.captured.length === perNode[i]);
    },
    timeoutMs,
  );
}

/**
 * The process of a pod's (first) container: the local kubelet reports `local://<pid>`. The pid
 * is checked against the cluster's own process bookkeeping (LOCAL_CLUSTER_ID in the
 * environment, a /proc scan), so a dead container's pid, reused by another process, is refused.
 */
export function containerPid(cluster: Cluster, pod: V1Pod): number {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? '';
  const pid = Number(id.replace('local://', ''));
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`pod ${pod.metadata?.name} has no local container id: '${id}'`);
  if (!clusterProcesses(cluster.network.clusterId).some((p) => p.pid === pid)) throw new Error(`pid ${pid} of pod ${pod.metadata?.name} is not this cluster's`);
  return pid;
}

/** The ztunnel process of each node, keyed by node name. */
export async function ztunnelPids(bench: BenchCluster): Promise<Map<string, number>> {
  const pods = (await bench.core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=ztunnel' })).items;
  return new Map(pods.map((p) => [p.spec!.nodeName!, containerPid(bench.cluster, p)]));
}

/** utime + stime of the whole process (every thread), in seconds (USER_HZ = 100). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3; comm may hold spaces
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15
}

/** Resident memory (RSS) and proportional set size (PSS: shared pages divided among their users), MiB. */
export function memoryMiB(pid: number): { rss: number; pss: number } {
  const kib = (text: string, field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: kib(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS') / 1024, pss: kib(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss') / 1024 };
}

/** The host's busy and stolen CPU seconds since boot (/proc/stat, all CPUs). Interrupt time is
 *  left out: it carries this run's own packets and belongs to no process. */
function hostCpu(): { busy: number; steal: number } {
  const [user, nice, system, , , , , steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user! + nice! + system!) / 100, steal: (steal ?? 0) / 100 };
}

/** CPU seconds of this process and its reaped children (the kubelets run here; the load tool is a child). */
function selfCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100; // utime stime cutime cstime
}

/** CPU seconds of each of the cluster's processes, by pid (those that exit meanwhile are missed). */
function clusterCpu(clusterId: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of clusterProcesses(clusterId)) {
    try {
      out.set(p.pid, cpuSeconds(p.pid));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** What else ran on the host during a phase, in cores: busy CPU not spent by this run's own
 *  processes (the cluster's and this one's), and CPU stolen by the hypervisor. */
export interface OtherLoad {
  cores: number;
  stealCores: number;
}

/** CPU seconds each process spends while `phase` runs, and the other load on the host meanwhile. */
export async function cpuDuring<T>(pids: number[], phase: () => Promise<T>, clusterId?: string): Promise<{ result: T; cpu: number[]; other?: OtherLoad }> {
  const before = pids.map(cpuSeconds);
  const host0 = hostCpu();
  const self0 = selfCpu();
  const cluster0 = clusterId === undefined ? undefined : clusterCpu(clusterId);
  const t0 = performance.now();
  const result = await phase();
  const cpu = pids.map((pid, i) => cpuSeconds(pid) - before[i]!);
  if (cluster0 === undefined) return { result, cpu };
  const wall = (performance.now() - t0) / 1000;
  const host = hostCpu();
  let mine = selfCpu() - self0;
  for (const [pid, now] of clusterCpu(clusterId!)) mine += now - (cluster0.get(pid) ?? 0);
  return { result, cpu, other: { cores: Math.max(0, host.busy - host0.busy - mine) / wall, stealCores: (host.steal - host0.steal) / wall } };
}

/** A table row: a label, then right-aligned cells (one width for all, or one per cell). */
export function tableRow(label: string, cells: string[], labelWidth = 44, cellWidth: number | number[] = 20): string {
  const width = (i: number): number => (typeof cellWidth === 'number' ? cellWidth : (cellWidth[i] ?? cellWidth.at(-1)!));
  return `  ${label.padEnd(labelWidth)}${cells.map((c, i) => ` ${c.padStart(width(i))}`).join('')}`;
}

export const ms = (v: number): string => `${v.toFixed(2)} ms`;
