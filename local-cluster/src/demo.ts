// `npm start`: bring up the local cluster (2 nodes), deploy the sample apps, show pod→pod and
// pod→service calls across nodes, print how to use kubectl, and keep running until Ctrl-C
// (`--once` stops right after the walkthrough; the tests use it).
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { podBinPath, repoRoot, startCluster, type Cluster } from './cluster.ts';
import { defaultDataDir, runningPid } from './cli/daemon-files.ts';
import { applyManifests, readManifests } from './manifests.ts';
import { readyMessage } from './main.ts';
import { nodeNetns, podNetns } from './runtime/index.ts';
import { deployZtunnel, istiodProcess } from './mesh.ts';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function waitForDeployments(cluster: Cluster, namespace: string, names: string[], timeoutMs: number): Promise<void> {
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await apps.listNamespacedDeployment({ namespace });
    const pending = names.filter((n) => {
      const d = list.items.find((x) => x.metadata?.name === n);
      return !d || (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1);
    });
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`deployments not ready after ${timeoutMs} ms: ${pending.join(', ')}`);
    await sleep(250);
  }
}

/** Runs a command inside a pod's network namespace, as `local-cluster exec` does. */
function execInPod(cluster: Cluster, pod: V1Pod, command: string[]): { code: number; output: string } {
  const r = spawnSync('ip', ['netns', 'exec', podNetns(cluster.network.clusterId, pod.metadata!.uid!), ...command], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, PATH: [...podBinPath(), process.env.PATH ?? '/usr/bin:/bin'].join(':') },
  });
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

interface ModelView { workloads: { namespace: string; name: string; node: string; protocol: string; identity: string }[] }

/** Runs a command in a node's netns (where that node's ztunnel serves its admin and metrics ports). */
function onNode(cluster: Cluster, index: number, code: string): string {
  const r = spawnSync('ip', ['netns', 'exec', nodeNetns(cluster.network.clusterId, index), process.execPath, '-e', code], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout ?? '';
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function meshWalkthrough(cluster: Cluster, metricsUrl: string): Promise<boolean> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  say('\n== deploying ztunnel (DaemonSet, one per node) and joining the mesh:');
  say('   kubectl label namespace demo istio.io/dataplane-mode=ambient');
  await deployZtunnel(cluster);
  await core.patchNamespace({ name: 'demo', body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  const debugUrl = metricsUrl.replace(/\/metrics$/, '/debug/model');
  const pods = (await core.listNamespacedPod({ namespace: 'demo' })).items;
  const client = pods.find((p) => p.metadata?.labels?.app === 'sleep')!;
  const target = pods.find((p) => p.metadata?.labels?.app === 'echo' && p.spec?.nodeName !== client.spec?.nodeName) ?? pods.find((p) => p.metadata?.labels?.app === 'echo')!;
  const captured = (): string[] => [1, 2].flatMap((i) => {
    try { return (JSON.parse(onNode(cluster, i, "fetch('http://127.0.0.1:15000/config_dump').then(r => r.text()).then(t => process.stdout.write(t))")) as { captured: { uid: string }[] }).captured.map((c) => c.uid); } catch { return []; }
  });
  await until('ztunnel capturing the demo pods', () => pods.every((p) => captured().includes(p.metadata!.uid!)));
  const view = (await (await fetch(debugUrl)).json()) as ModelView;
  say(`   istiod-lite (${debugUrl}) now sends them to ztunnel as HBONE workloads:`);
  for (const w of view.workloads.filter((x) => x.namespace === 'demo')) say(`   ${w.name.padEnd(28)} ${w.node.padEnd(8)} ${w.identity}`);

  let ok = true;
  const url = `http://${target.status?.podIP}:8080/`;
  say(`\n== the same unmodified client, now through ztunnel over mTLS: ambient-echo call ${url}`);
  let r = execInPod(cluster, client, ['ambient-echo', 'call', url, '--count', '2']);
  ok &&= r.code === 0;
  say(`   ${r.code === 0 ? 'ok' : 'FAILED'}: ${r.output.trim().split('\n').length} replies`);
  const node = Number(String(target.spec?.nodeName).replace('node-', ''));
  const line = onNode(cluster, node, "fetch('http://127.0.0.1:15020/metrics').then(r => r.text()).then(t => process.stdout.write(t))")
    .split('\n').find((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('reporter="destination"') && l.includes('mutual_tls'));
  const label = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(line ?? '')?.[1] ?? '?';
  say(`   ${target.spec?.nodeName}'s ztunnel metrics: istio_tcp_connections_opened_total{source_principal="${label('source_principal')}",`);
  say(`     destination_principal="${label('destination_principal')}", connection_security_policy="${label('connection_security_policy')}"}`);

  say('\n== an AuthorizationPolicy denying the demo namespace on port 8080 of app=echo');
  await custom.createNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'demo', plural: 'authorizationpolicies', body: {
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-demo' },
    spec: { selector: { matchLabels: { app: 'echo' } }, action: 'DENY', rules: [{ from: [{ source: { namespaces: ['demo'] } }], to: [{ operation: { ports: ['8080'] } }] }] },
  } });
  await until('the policy to reach ztunnel', () => execInPod(cluster, client, ['ambient-echo', 'call', url, '--timeout', '2000']).code !== 0);
  say('   the same call is now refused by the destination ztunnel (HBONE 401)');
  await custom.deleteNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'demo', plural: 'authorizationpolicies', name: 'deny-demo' });
  await until('the policy removal to reach ztunnel', () => execInPod(cluster, client, ['ambient-echo', 'call', url]).code === 0);
  say('   policy deleted: allowed again');

  say('\n== a plaintext client outside the mesh (namespace legacy), then PeerAuthentication STRICT in demo');
  await core.createNamespace({ body: { metadata: { name: 'legacy' } } }).catch(() => undefined);
  await core.createNamespacedPod({ namespace: 'legacy', body: { metadata: { name: 'curl' }, spec: { nodeName: client.spec?.nodeName, containers: [{ name: 'curl', image: 'ambient/echo:local', command: ['ambient-echo', 'serve', '--port', '9000'] }] } } }).catch(() => undefined);
  await until('the legacy pod running', async () => (await core.readNamespacedPod({ name: 'curl', namespace: 'legacy' })).status?.phase === 'Running', 30_000);
  const legacy = await core.readNamespacedPod({ name: 'curl', namespace: 'legacy' });
  r = execInPod(cluster, legacy, ['ambient-echo', 'call', url]);
  say(`   without PeerAuthentication (PERMISSIVE): ${r.code === 0 ? 'admitted' : 'refused'}`);
  ok &&= r.code === 0;
  await custom.createNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'demo', plural: 'peerauthentications', body: {
    apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICT' } },
  } });
  await until('STRICT to reach ztunnel', () => execInPod(cluster, legacy, ['ambient-echo', 'call', url, '--timeout', '2000']).code !== 0);
  say('   with STRICT: refused by ztunnel; mesh clients still get through:');
  r = execInPod(cluster, client, ['ambient-echo', 'call', url]);
  ok &&= r.code === 0;
  say(`   sleep → echo: ${r.code === 0 ? 'ok' : 'FAILED'}`);
  await custom.deleteNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'demo', plural: 'peerauthentications', name: 'default' });
  return ok;
}

async function walkthrough(cluster: Cluster): Promise<boolean> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const manifests = join(repoRoot, 'examples/manifests');
  say(`\n== applying the sample apps (${manifests})`);
  for (const line of await applyManifests(cluster.kubeConfig, readManifests(manifests), 'demo')) say(`  ${line}`);
  await waitForDeployments(cluster, 'demo', ['echo', 'sleep'], 60_000);

  const pods = (await core.listNamespacedPod({ namespace: 'demo' })).items;
  say('\n== pods (real processes in their own network namespaces)');
  for (const p of pods) say(`  ${p.metadata?.name?.padEnd(28)} ${String(p.status?.podIP).padEnd(12)} ${p.spec?.nodeName}`);
  const client = pods.find((p) => p.metadata?.labels?.app === 'sleep');
  const target = pods.find((p) => p.metadata?.labels?.app === 'echo' && p.spec?.nodeName !== client?.spec?.nodeName)
    ?? pods.find((p) => p.metadata?.labels?.app === 'echo');
  if (!client || !target) throw new Error('the sample pods are missing');

  let ok = true;
  const calls: [string, string][] = [
    [`pod→pod (${client.spec?.nodeName} → ${target.spec?.nodeName})`, `http://${target.status?.podIP}:8080/`],
    ['pod→service by name, 4 calls', 'http://echo.demo.svc.cluster.local/'],
  ];
  for (const [title, url] of calls) {
    say(`\n== ${title}: ambient-echo call ${url}`);
    const r = execInPod(cluster, client, ['ambient-echo', 'call', url, '--count', url.includes('svc') ? '4' : '1']);
    for (const line of r.output.trim().split('\n')) {
      try {
        const j = JSON.parse(line) as { status?: number; body?: { pod?: string; node?: string } };
        say(`  ${j.status} from pod ${j.body?.pod} on ${j.body?.node}`);
      } catch {
        say(`  ${line}`);
      }
    }
    ok &&= r.code === 0;
  }
  return ok;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { once: { type: 'boolean', default: false }, data: { type: 'string' }, nodes: { type: 'string', default: '2' }, port: { type: 'string' } } });
  const dataDir = resolve(values.data ?? defaultDataDir());
  if (runningPid(dataDir) !== undefined) {
    console.error(`a local cluster is already running from ${dataDir}; stop it with 'npm run local-cluster -- down' first`);
    return 1;
  }
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
  say(`starting the local cluster in ${dataDir} ...`);
  // Fixed ports for people; ephemeral ones when the API port is (tests run in parallel).
  const istiod = istiodProcess(dataDir, values.port === '0');
  const cluster = await startCluster({ dataDir, nodes: Number(values.nodes), ...(values.port ? { port: Number(values.port) } : {}), controlPlane: [istiod], logger });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\nstopping: removing every pod, namespace, link and rule the cluster created');
    await cluster.stop();
  };
  try {
    const istiod = cluster.controlPlane.find((p) => p.name === 'istiod-lite')!;
    say(`istiod-lite: discovery + CA on ${istiod.ready.grpc}, metrics on ${istiod.ready.metrics}`);
    const ok = (await walkthrough(cluster)) && (await meshWalkthrough(cluster, String(istiod.ready.metrics)));
    say(`\n${readyMessage(dataDir, cluster.api.url, cluster.nodes.length).replace(/\n.*stop it with.*$/, '')}`);
    if (values.once) return ok ? 0 : 1;
    say('\nthe cluster keeps running; press Ctrl-C to stop it');
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    return ok ? 0 : 1;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('demo failed:', err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
