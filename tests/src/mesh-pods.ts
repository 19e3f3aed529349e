// What the e2e tests do inside a namespace's pods: the echo app's `call` from a client pod (the
// unmodified client, its traffic captured by ztunnel), and HTTP fetches inside a waypoint pod
// (its admin, metrics and readiness listen on the pod's loopback), with Prometheus text summed
// by label. One copy for every e2e file.
import assert from 'node:assert/strict';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { type EchoCallSummary, echoScriptPath } from '@ambient/examples';
import type { Cluster } from '@ambient/local-cluster/cluster';
import { execInNetns, podNetns } from '@ambient/local-cluster/runtime';

export const echoScript = echoScriptPath;

/** The echo app as a container; `flags` go to `serve` (e.g. `--delay 50`, `--fail-status 500`). */
export function echoContainer(version: string, flags: string[] = []) {
  return {
    name: 'echo',
    image: 'ambient/echo:local',
    command: [process.execPath, echoScript, 'serve', '--port', '8080', '--grpc-port', '9090', ...flags],
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'grpc', containerPort: 9090 },
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'VERSION', value: version },
    ],
  };
}

/** What `ambient-echo call --summary` prints as its last line. */
export type CallSummary = EchoCallSummary;

export class MeshPods {
  readonly #cluster: Cluster;
  readonly #core: CoreV1Api;
  readonly namespace: string;

  constructor(cluster: Cluster, namespace: string) {
    this.#cluster = cluster;
    this.#core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    this.namespace = namespace;
  }

  pod(name: string): Promise<V1Pod> {
    return this.#core.readNamespacedPod({ name, namespace: this.namespace });
  }

  /** Running pods matching a label selector. */
  async running(labelSelector: string): Promise<V1Pod[]> {
    const pods = (await this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector })).items;
    return pods.filter((p) => p.status?.phase === 'Running' && p.status.podIP && !p.metadata?.deletionTimestamp);
  }

  exec(p: V1Pod, argv: string[], timeoutMs = 60_000) {
    return execInNetns(podNetns(this.#cluster.network.clusterId, p.metadata!.uid!), argv, { timeoutMs });
  }

  /** The echo app's `call` inside pod `from` (a name, or the pod as read before: no API call then): one JSON line per request (or the summary). */
  async call(from: string | V1Pod, url: string, flags: string[] = []): Promise<{ ok: boolean; lines: any[]; output: string }> {
    const r = await this.exec(
      typeof from === 'string' ? await this.pod(from) : from,
      [process.execPath, echoScript, 'call', url, '--timeout', '5000', ...flags],
      170_000,
    );
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return { ok: r.code === 0, lines, output: r.stdout + r.stderr };
  }

  async summary(from: string | V1Pod, url: string, flags: string[] = []): Promise<CallSummary> {
    const r = await this.call(from, url, [...flags, '--summary']);
    const s = r.lines.at(-1) as CallSummary | undefined;
    assert.ok(s && typeof s.sent === 'number', r.output);
    return s;
  }

  /** GET `url` inside pod `p` (its loopback listeners). */
  async fetchIn(p: V1Pod, url: string): Promise<{ code: number; body: string }> {
    const code = `fetch(${JSON.stringify(url)}).then(async r => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1) }, () => process.exit(2))`;
    const r = await this.exec(p, [process.execPath, '-e', code], 10_000);
    return { code: r.code ?? -1, body: r.stdout };
  }

  /** Running pods of waypoint `gateway`. */
  waypointPods(gateway = 'waypoint'): Promise<V1Pod[]> {
    return this.running(`gateway.networking.k8s.io/gateway-name=${gateway}`);
  }

  /** The sum, over every running pod of the waypoint, of a metric's samples whose labels include every pair. */
  async waypointMetric(name: string, labels: Record<string, string>, gateway = 'waypoint'): Promise<number> {
    let total = 0;
    for (const p of await this.waypointPods(gateway)) total += metricSum((await this.fetchIn(p, 'http://127.0.0.1:15020/metrics')).body, name, labels);
    return total;
  }
}

/** The sum of a metric's samples (in Prometheus text) whose labels include every given pair. */
export function metricSum(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
