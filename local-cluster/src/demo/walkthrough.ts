// The walkthrough `npm start` shows, step by step. Every step is idempotent (objects are
// applied, never created, so a leftover from an earlier run is no conflict) and restores what
// it changed even when it fails; `resetDemoState` undoes what an earlier run could not (it was
// killed mid-step), so every run starts from the same state whatever the data directory holds.
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isNotFound, mergePatch } from '@ambient/api/kube';
import { podBinPath, repoRoot, type Cluster } from '../cluster.ts';
import { applyManifests, readManifests } from '../manifests.ts';
import { deployZtunnel } from '../mesh.ts';
import { execInNetns, nodeNetns, podNetns } from '../runtime/index.ts';
import { apiWaitMs, dataPlaneWaitMs, probeUntil, watchUntil } from '../wait.ts';
import type { StepRunner } from './steps.ts';

export interface Demo {
  cluster: Cluster;
  steps: StepRunner;
  /** Aborted by SIGINT/SIGTERM: every wait and command ends at once. */
  signal: AbortSignal;
  logger: Logger;
  say: (line?: string) => void;
  /** When this run started its cluster. */
  since: Date;
}

const namespace = 'demo';
const fieldManager = 'demo';
const ambientLabel = 'istio.io/dataplane-mode';

/** The policies the walkthrough applies and removes again. */
const denyPolicy = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'deny-demo', namespace },
  spec: {
    selector: { matchLabels: { app: 'echo' } },
    action: 'DENY',
    rules: [{ from: [{ source: { namespaces: [namespace] } }], to: [{ operation: { ports: ['8080'] } }] }],
  },
};
const strictPolicy = {
  apiVersion: 'security.istio.io/v1',
  kind: 'PeerAuthentication',
  metadata: { name: 'default', namespace },
  spec: { mtls: { mode: 'STRICT' } },
};
const policies = [
  { object: denyPolicy, group: 'security.istio.io', plural: 'authorizationpolicies' },
  { object: strictPolicy, group: 'security.istio.io', plural: 'peerauthentications' },
];
const legacyObjects: KubernetesObject[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'curl', namespace: 'legacy' },
    spec: { containers: [{ name: 'curl', image: 'ambient/echo:local', command: ['ambient-echo', 'serve', '--port', '9000'] }] },
  } as KubernetesObject,
];

/** Deletes one of the walkthrough's policies; true when there was one. */
async function deletePolicy(d: Demo, policy: (typeof policies)[number]): Promise<boolean> {
  const custom = d.cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  try {
    await custom.deleteNamespacedCustomObject({ group: policy.group, version: 'v1', namespace, plural: policy.plural, name: policy.object.metadata.name });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Brings the demo's objects back to where the walkthrough starts; returns what it undid. */
async function resetDemoState(d: Demo): Promise<string[]> {
  const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
  const undone: string[] = [];
  for (const p of policies) {
    if (await deletePolicy(d, p)) undone.push(`deleted ${p.object.kind} ${namespace}/${p.object.metadata.name}`);
  }
  const ns = await core.readNamespace({ name: namespace }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  undone.push(...(await removeWaypoint(d)));
  if (ns?.metadata?.labels?.[ambientLabel] !== undefined) {
    await core.patchNamespace({ name: namespace, body: { metadata: { labels: { [ambientLabel]: null } } } }, mergePatch);
    undone.push(`removed the label ${ambientLabel} from namespace ${namespace}`);
  }
  return undone;
}

interface CallOutcome {
  code: number;
  output: string;
}

/** Runs `ambient-echo call` inside a pod's network namespace, as `local-cluster exec` does. */
async function callFrom(d: Demo, pod: V1Pod, url: string, ...flags: string[]): Promise<CallOutcome> {
  const env = { ...process.env, PATH: [...podBinPath(), process.env.PATH ?? '/usr/bin:/bin'].join(':') };
  const r = await execInNetns(podNetns(d.cluster.network.clusterId, pod.metadata!.uid!), ['ambient-echo', 'call', url, ...flags], {
    timeoutMs: 30_000,
    env,
    signal: d.signal,
  });
  return { code: r.code, output: `${r.stdout}${r.stderr}`.trim() };
}

function mustSucceed(what: string, r: CallOutcome): CallOutcome {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.output || `exit ${r.code}`}`);
  return r;
}

/** Fetches a URL on a node's loopback (where that node's ztunnel serves admin and metrics). */
async function fetchOnNode(d: Demo, nodeName: string, url: string): Promise<string> {
  const index = Number(nodeName.replace('node-', ''));
  const code = `fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => process.stdout.write(t))`;
  const r = await execInNetns(nodeNetns(d.cluster.network.clusterId, index), [process.execPath, '-e', code], { timeoutMs: 30_000, signal: d.signal });
  return r.code === 0 ? r.stdout : '';
}

interface DemoPods {
  client: V1Pod;
  target: V1Pod;
  all: V1Pod[];
}

/** Running, and started by this run's kubelet: a pod object kept from an earlier run still
 *  says Running until the restarted kubelet has started it again. */
function runningSince(pod: V1Pod, since: Date): boolean {
  const statuses = pod.status?.containerStatuses ?? [];
  return (
    pod.status?.phase === 'Running' &&
    !pod.metadata?.deletionTimestamp &&
    statuses.length > 0 &&
    statuses.every((c) => c.state?.running?.startedAt !== undefined && new Date(c.state.running.startedAt).getTime() >= since.getTime())
  );
}

/** The sleep pod, and an echo pod on another node when there is one. */
function demoPods(pods: V1Pod[], since: Date): DemoPods {
  const all = pods.filter((p) => runningSince(p, since));
  const client = all.find((p) => p.metadata?.labels?.app === 'sleep');
  const target =
    all.find((p) => p.metadata?.labels?.app === 'echo' && p.spec?.nodeName !== client?.spec?.nodeName) ?? all.find((p) => p.metadata?.labels?.app === 'echo');
  if (!client || !target) throw new Error('the sample pods (app=sleep, app=echo) are not running');
  return { client, target, all };
}

async function deployApps(d: Demo): Promise<DemoPods> {
  const manifests = join(repoRoot, 'examples/manifests');
  return d.steps.run('apps', `applying the sample apps (${manifests})`, async () => {
    for (const line of await applyManifests(d.cluster.kubeConfig, readManifests(manifests), fieldManager)) d.say(`  ${line}`);
    const undone = await resetDemoState(d);
    if (undone.length > 0) d.say(`  reset what an earlier run left: ${undone.join('; ')}`);
    const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
    const apps = d.cluster.kubeConfig.makeApiClient(AppsV1Api);
    const replicas = new Map((await apps.listNamespacedDeployment({ namespace })).items.map((x) => [x.metadata!.name!, x.spec?.replicas ?? 1]));
    const running = (pods: V1Pod[], app: string): number => pods.filter((p) => p.metadata?.labels?.app === app && runningSince(p, d.since)).length;
    const pods = demoPods(
      await watchUntil(
        d.cluster.kubeConfig,
        d.logger,
        {
          what: `the pods of deployments ${[...replicas.keys()].join(', ')} in ${namespace} to run`,
          timeoutMs: apiWaitMs,
          signal: d.signal,
          path: `/api/v1/namespaces/${namespace}/pods`,
          list: () => core.listNamespacedPod({ namespace }),
          describe: (all) => [...replicas].map(([app, n]) => `${app} ${running(all, app)}/${n}`).join(', '),
        },
        (all) => [...replicas].every(([app, n]) => running(all, app) >= n),
      ),
      d.since,
    );
    // The local kubelet runs no readiness probes: a pod runs before its server listens.
    for (const echo of pods.all.filter((p) => p.metadata?.labels?.app === 'echo')) {
      await callUntil(d, `${echo.metadata?.name} to answer on ${echo.status?.podIP}:8080`, pods.client, `http://${echo.status?.podIP}:8080/`, false);
    }
    d.say('\n== pods (real processes in their own network namespaces)');
    for (const p of pods.all) d.say(`  ${p.metadata?.name?.padEnd(28)} ${String(p.status?.podIP).padEnd(12)} ${p.spec?.nodeName}`);
    return pods;
  });
}

async function plainCalls(d: Demo, { client, target }: DemoPods): Promise<void> {
  const calls: [string, string, string, number][] = [
    ['calls', `pod→pod (${client.spec?.nodeName} → ${target.spec?.nodeName})`, `http://${target.status?.podIP}:8080/`, 1],
    ['service-calls', 'pod→service by name, 4 calls', 'http://echo.demo.svc.cluster.local/', 4],
  ];
  for (const [id, title, url, count] of calls) {
    await d.steps.run(id, `${title}: ambient-echo call ${url}`, async () => {
      const r = await callFrom(d, client, url, '--count', String(count));
      for (const line of r.output.split('\n')) {
        try {
          const j = JSON.parse(line) as { status?: number; error?: string; body?: { pod?: string; node?: string } };
          d.say(j.status === undefined ? `  no reply: ${j.error}` : `  ${j.status} from pod ${j.body?.pod} on ${j.body?.node}`);
        } catch {
          d.say(`  ${line}`);
        }
      }
      mustSucceed(`the call to ${url}`, r);
    });
  }
}

interface ModelView {
  workloads: { namespace: string; name: string; node: string; protocol: string; identity: string }[];
}

async function joinMesh(d: Demo, pods: DemoPods, debugUrl: string): Promise<void> {
  await d.steps.run('mesh', 'deploying the CNI node agent and ztunnel (DaemonSets, one per node) and joining the mesh:', async () => {
    d.say(`   kubectl label namespace ${namespace} ${ambientLabel}=ambient`);
    await deployZtunnel(d.cluster, { signal: d.signal, logger: d.logger });
    const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
    await core.patchNamespace({ name: namespace, body: { metadata: { labels: { [ambientLabel]: 'ambient' } } } }, mergePatch);
    const nodes = [...new Set(pods.all.map((p) => p.spec!.nodeName!))];
    const captured = async (): Promise<Set<string>> => {
      const uids = new Set<string>();
      for (const node of nodes) {
        try {
          for (const c of (JSON.parse(await fetchOnNode(d, node, 'http://127.0.0.1:15000/config_dump')) as { captured: { uid: string }[] }).captured)
            uids.add(c.uid);
        } catch {
          /* that ztunnel is not answering yet */
        }
      }
      return uids;
    };
    await probeUntil({ what: 'ztunnel capturing the demo pods (its /config_dump lists them)', timeoutMs: dataPlaneWaitMs, signal: d.signal }, async () => {
      const uids = await captured();
      return pods.all.every((p) => uids.has(p.metadata!.uid!));
    });
    const view = (await (await fetch(debugUrl, { signal: d.signal })).json()) as ModelView;
    d.say(`   istiod-lite (${debugUrl}) now sends them to ztunnel as HBONE workloads:`);
    for (const w of view.workloads.filter((x) => x.namespace === namespace)) d.say(`   ${w.name.padEnd(28)} ${w.node.padEnd(8)} ${w.identity}`);
  });
}

async function mtlsCall(d: Demo, { client, target }: DemoPods): Promise<void> {
  const url = `http://${target.status?.podIP}:8080/`;
  await d.steps.run('mtls', `the same unmodified client, now through ztunnel over mTLS: ambient-echo call ${url}`, async () => {
    const r = mustSucceed(`the call to ${url} through ztunnel`, await callFrom(d, client, url, '--count', '2'));
    d.say(`   ok: ${r.output.split('\n').length} replies`);
    const metrics = await fetchOnNode(d, target.spec!.nodeName!, 'http://127.0.0.1:15020/metrics');
    const line = metrics
      .split('\n')
      .find((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('reporter="destination"') && l.includes('mutual_tls'));
    if (!line) throw new Error(`${target.spec?.nodeName}'s ztunnel reports no mutual_tls connection in istio_tcp_connections_opened_total`);
    const label = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1] ?? '?';
    d.say(`   ${target.spec?.nodeName}'s ztunnel metrics: istio_tcp_connections_opened_total{source_principal="${label('source_principal')}",`);
    d.say(`     destination_principal="${label('destination_principal')}", connection_security_policy="${label('connection_security_policy')}"}`);
  });
}

/** Probes a call until its outcome (refused or answered) is the one wanted. */
async function callUntil(d: Demo, what: string, pod: V1Pod, url: string, refused: boolean): Promise<void> {
  await probeUntil(
    { what, timeoutMs: dataPlaneWaitMs, signal: d.signal },
    async () => ((await callFrom(d, pod, url, '--timeout', '2000')).code !== 0) === refused,
  );
}

async function denyPolicyStep(d: Demo, { client, target }: DemoPods): Promise<void> {
  const url = `http://${target.status?.podIP}:8080/`;
  await d.steps.run('deny', `an AuthorizationPolicy denying the ${namespace} namespace on port 8080 of app=echo`, async () => {
    try {
      await applyManifests(d.cluster.kubeConfig, [denyPolicy], fieldManager);
      await callUntil(d, 'the policy to reach ztunnel (the call to be refused)', client, url, true);
      d.say('   the same call is now refused by the destination ztunnel (HBONE 401)');
      d.steps.failpoint('deny');
      await deletePolicy(d, policies[0]!);
      await callUntil(d, 'the policy removal to reach ztunnel (the call to be answered)', client, url, false);
      d.say('   policy deleted: allowed again');
    } finally {
      await deletePolicy(d, policies[0]!);
    }
  });
}

async function strictStep(d: Demo, { client, target }: DemoPods): Promise<void> {
  const url = `http://${target.status?.podIP}:8080/`;
  await d.steps.run('strict', `a plaintext client outside the mesh (namespace legacy), then PeerAuthentication STRICT in ${namespace}`, async () => {
    const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
    await applyManifests(d.cluster.kubeConfig, legacyObjects, fieldManager);
    const [legacy] = await watchUntil(
      d.cluster.kubeConfig,
      d.logger,
      {
        what: 'the legacy pod running',
        timeoutMs: apiWaitMs,
        signal: d.signal,
        path: '/api/v1/namespaces/legacy/pods',
        list: () => core.listNamespacedPod({ namespace: 'legacy', fieldSelector: 'metadata.name=curl' }),
      },
      (pods) => pods.some((p) => p.metadata?.name === 'curl' && runningSince(p, d.since)),
    );
    mustSucceed('the plaintext call without PeerAuthentication (PERMISSIVE)', await callFrom(d, legacy!, url));
    d.say('   without PeerAuthentication (PERMISSIVE): admitted');
    try {
      await applyManifests(d.cluster.kubeConfig, [strictPolicy], fieldManager);
      await callUntil(d, 'STRICT to reach ztunnel (the plaintext call to be refused)', legacy!, url, true);
      d.say('   with STRICT: refused by ztunnel; mesh clients still get through:');
      d.steps.failpoint('strict');
      mustSucceed("the mesh client's call under STRICT", await callFrom(d, client, url));
      d.say('   sleep → echo: ok');
    } finally {
      await deletePolicy(d, policies[1]!);
    }
  });
}

const waypointManifests = join(repoRoot, 'examples/manifests/waypoint');
/** Redis (the global rate limits' store) and a RateLimitPolicy on the echo Service. */
const resilienceManifests = join(repoRoot, 'examples/manifests/resilience');
const useWaypointLabel = 'istio.io/use-waypoint';

/** Removes what the waypoint step applies (newest first); returns what it removed. */
async function removeWaypoint(d: Demo): Promise<string[]> {
  const removed: string[] = [];
  const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
  const svc = await core.readNamespacedService({ name: 'echo', namespace }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (svc?.metadata?.labels?.[useWaypointLabel] !== undefined) {
    await core.patchNamespacedService({ name: 'echo', namespace, body: { metadata: { labels: { [useWaypointLabel]: null } } } }, mergePatch);
    removed.push(`removed the label ${useWaypointLabel} from service ${namespace}/echo`);
  }
  const objects = KubernetesObjectApi.makeApiClient(d.cluster.kubeConfig);
  for (const o of [...readManifests(waypointManifests), ...readManifests(resilienceManifests)].reverse()) {
    try {
      await objects.delete(o);
      removed.push(`deleted ${o.kind} ${namespace}/${o.metadata?.name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return removed;
}

/** A URL fetched inside the waypoint pod (its admin, metrics and readiness are on its loopback). */
async function fetchInWaypoint(d: Demo, url: string): Promise<string | undefined> {
  const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'gateway.networking.k8s.io/gateway-name=waypoint' })).items;
  const pod = pods.find((p) => runningSince(p, d.since) && p.status?.podIP);
  if (!pod) return undefined;
  const code = `fetch(${JSON.stringify(url)}).then(async r => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1) }, () => process.exit(2))`;
  const r = await execInNetns(podNetns(d.cluster.network.clusterId, pod.metadata!.uid!), [process.execPath, '-e', code], {
    timeoutMs: 10_000,
    signal: d.signal,
  });
  return r.code === 0 ? r.stdout : undefined;
}

/** The sum of a waypoint metric's samples whose labels include `match`. */
function metricSum(text: string, name: string, match: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(match))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

interface CallSummary {
  byStatus: Record<string, number>;
  byPod: Record<string, number>;
}

async function summaryFrom(d: Demo, pod: V1Pod, url: string, ...flags: string[]): Promise<CallSummary> {
  const r = mustSucceed(`the calls to ${url}`, await callFrom(d, pod, url, ...flags, '--summary'));
  return JSON.parse(r.output.split('\n').at(-1)!) as CallSummary;
}

/** Replies per version, from the answering pods' names (echo-v2-… is v2, the rest v1). */
function byVersion(s: CallSummary): string {
  let v1 = 0;
  let v2 = 0;
  for (const [pod, n] of Object.entries(s.byPod)) {
    if (pod.startsWith('echo-v2-')) v2 += n;
    else v1 += n;
  }
  return `v1 ${v1}, v2 ${v2}`;
}

async function waypointStep(d: Demo, { client }: DemoPods): Promise<void> {
  const url = `http://echo.${namespace}.svc.cluster.local`;
  await d.steps.run('waypoint', `a waypoint for L7 policy (${waypointManifests}), bound to the echo Service`, async () => {
    try {
      const objects = readManifests(waypointManifests);
      await applyManifests(
        d.cluster.kubeConfig,
        objects.filter((o) => o.kind !== 'AuthorizationPolicy'),
        fieldManager,
      );
      d.say(`   kubectl label service echo -n ${namespace} ${useWaypointLabel}=waypoint`);
      const core = d.cluster.kubeConfig.makeApiClient(CoreV1Api);
      await core.patchNamespacedService({ name: 'echo', namespace, body: { metadata: { labels: { [useWaypointLabel]: 'waypoint' } } } }, mergePatch);
      await probeUntil(
        { what: 'the waypoint pod to answer ready on 15021', timeoutMs: dataPlaneWaitMs, signal: d.signal },
        async () => (await fetchInWaypoint(d, 'http://127.0.0.1:15021/healthz/ready')) !== undefined,
      );
      await probeUntil(
        { what: 'the HTTPRoute to reach the waypoint (x-canary: yes answered by v2)', timeoutMs: dataPlaneWaitMs, signal: d.signal },
        async () => {
          const r = await callFrom(d, client, `${url}/`, '--header', 'x-canary:yes', '--timeout', '2000');
          return r.code === 0 && r.output.includes('"pod":"echo-v2-');
        },
      );
      const canary = await summaryFrom(d, client, `${url}/`, '--count', '200', '--concurrency', '4');
      d.say(`   canary 90/10 (HTTPRoute weights), 200 calls: ${byVersion(canary)}`);
      const header = await summaryFrom(d, client, `${url}/`, '--count', '20', '--header', 'x-canary:yes');
      d.say(`   header route (x-canary: yes), 20 calls: ${byVersion(header)}`);
      d.steps.failpoint('waypoint');
      const before = metricSum((await fetchInWaypoint(d, 'http://127.0.0.1:15020/metrics')) ?? '', 'waypoint_retries_total', 'outcome="retried"');
      const flaky = await summaryFrom(d, client, `${url}/fail/50`, '--count', '50', '--rate', '10');
      const after = metricSum((await fetchInWaypoint(d, 'http://127.0.0.1:15020/metrics')) ?? '', 'waypoint_retries_total', 'outcome="retried"');
      d.say(`   a backend failing every other request (/fail/50), 50 calls with retry attempts 3: ${flaky.byStatus['200'] ?? 0} answered 200`);
      d.say(`   waypoint_retries_total{outcome="retried"} +${after - before} (bounded by the retry budget: 20% of requests + 10/s)`);
      await applyManifests(
        d.cluster.kubeConfig,
        objects.filter((o) => o.kind === 'AuthorizationPolicy'),
        fieldManager,
      );
      await probeUntil({ what: 'the L7 policy to reach the waypoint (/admin answered 403)', timeoutMs: dataPlaneWaitMs, signal: d.signal }, async () =>
        (await callFrom(d, client, `${url}/admin/users`, '--timeout', '2000')).output.includes('"status":403'),
      );
      const metrics = (await fetchInWaypoint(d, 'http://127.0.0.1:15020/metrics')) ?? '';
      d.say(`   AuthorizationPolicy DENY /admin* (targetRefs: Service echo): GET /admin/users → 403 RBAC: access denied; GET / still 200`);
      const allowed = await callFrom(d, client, `${url}/`);
      if (!allowed.output.includes('"status":200')) throw new Error(`a call to / under the L7 policy was not answered 200: ${allowed.output}`);
      d.say(`   waypoint_requests_denied_total{policy="demo/echo-admin"} ${metricSum(metrics, 'waypoint_requests_denied_total', 'policy="demo/echo-admin"')}`);
      await rateLimitStep(d, client, url);
    } finally {
      await removeWaypoint(d);
    }
  });
}

/** A global rate limit (counters in a real redis-server pod) answering 429, with the metric that proves it. */
async function rateLimitStep(d: Demo, client: V1Pod, url: string): Promise<void> {
  d.say(`   kubectl apply -f ${resilienceManifests}   (redis-server as a pod; RateLimitPolicy: 5 per 10 s per caller, in Redis)`);
  await applyManifests(d.cluster.kubeConfig, readManifests(resilienceManifests), fieldManager);
  await probeUntil(
    { what: 'the waypoint to connect to Redis (waypoint_rate_limit_store_up 1)', timeoutMs: dataPlaneWaitMs, signal: d.signal },
    async () => metricSum((await fetchInWaypoint(d, 'http://127.0.0.1:15020/metrics')) ?? '', 'waypoint_rate_limit_store_up', '') === 1,
  );
  const s = await summaryFrom(d, client, `${url}/`, '--count', '8');
  d.say(`   8 calls from one caller: ${s.byStatus['200'] ?? 0} answered 200, ${s.byStatus['429'] ?? 0} answered 429 (x-ratelimit-*, retry-after)`);
  if ((s.byStatus['429'] ?? 0) === 0) throw new Error(`the rate limit answered no 429: ${JSON.stringify(s.byStatus)}`);
  const metrics = (await fetchInWaypoint(d, 'http://127.0.0.1:15020/metrics')) ?? '';
  d.say(`   istio_requests_total{response_code="429",response_flags="RL"} ${metricSum(metrics, 'istio_requests_total', 'response_flags="RL"')}`);
}

/** The whole walkthrough: calls across nodes, then the same through the mesh with policy. */
export async function walkthrough(d: Demo, istiodMetricsUrl: string): Promise<void> {
  const pods = await deployApps(d);
  await plainCalls(d, pods);
  await joinMesh(d, pods, istiodMetricsUrl.replace(/\/metrics$/, '/debug/model'));
  await mtlsCall(d, pods);
  await denyPolicyStep(d, pods);
  await strictStep(d, pods);
  await waypointStep(d, pods);
}
