// `npm start`: bring up the local cluster (2 nodes), deploy the sample apps, show pod→pod and
// pod→service calls across nodes, print how to use kubectl, and keep running until Ctrl-C
// (`--once` stops right after the walkthrough; the tests use it).
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { podBinPath, repoRoot, startCluster, type Cluster } from './cluster.ts';
import { defaultDataDir, runningPid } from './cli/daemon-files.ts';
import { applyManifests, readManifests } from './manifests.ts';
import { readyMessage } from './main.ts';
import { podNetns } from './runtime/index.ts';

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

interface ModelView { workloads: { namespace: string; name: string; node: string; protocol: string; identity: string }[]; proxies: unknown[] }

async function enrollAndShow(cluster: Cluster, metricsUrl: string): Promise<boolean> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  say('\n== joining the mesh: kubectl label namespace demo istio.io/dataplane-mode=ambient');
  await core.patchNamespace({ name: 'demo', body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
  const debugUrl = metricsUrl.replace(/\/metrics$/, '/debug/model');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const view = (await (await fetch(debugUrl)).json()) as ModelView;
    const demo = view.workloads.filter((w) => w.namespace === 'demo');
    if (demo.length > 0 && demo.every((w) => w.protocol === 'HBONE')) {
      say(`  istiod-lite now pushes these workloads as HBONE (mTLS) with their SPIFFE identities (${debugUrl}):`);
      for (const w of demo) say(`  ${w.name.padEnd(28)} ${w.node.padEnd(8)} ${w.identity}`);
      say('  (ztunnel, the data plane that will enforce this, is the next milestone: traffic is still plaintext)');
      return true;
    }
    if (Date.now() > deadline) {
      say(`  the workloads did not turn HBONE in time: ${JSON.stringify(demo)}`);
      return false;
    }
    await sleep(100);
  }
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
  const ephemeral = values.port === '0';
  const istiod = {
    name: 'istiod-lite',
    command: [process.execPath, join(repoRoot, 'istiod-lite/src/main.ts'), '--host', '127.0.0.1', '--install-crds', '--grpc-port', ephemeral ? '0' : '15012', '--metrics-port', ephemeral ? '0' : '15014', '--log-level', 'warn'],
    readyLine: /"msg":"ready"/,
  };
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
    const ok = (await walkthrough(cluster)) && (await enrollAndShow(cluster, String(istiod.ready.metrics)));
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
