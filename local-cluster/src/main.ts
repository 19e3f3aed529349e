// `local-cluster` CLI: up, down, apply, status, exec, logs (and `run`, the cluster process
// that `up` starts in the background). See local-cluster/README.md.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { applyManifests, readManifests } from './manifests.ts';
import { deployZtunnel, istiodProcess } from './mesh.ts';
import pino from 'pino';
import { MeshError } from '@ambient/api';
import { nodeIndex, podBinPath, startCluster } from './cluster.ts';
import { claimDataDir, stopCluster } from './cli/cluster-owner.ts';
import { defaultDataDir, kubeconfigFile, logFile, readyFile, runningPid } from './cli/daemon-files.ts';
import { clusterIdFor, nodeNetns, podNetns } from './runtime/index.ts';

const usage = `usage: local-cluster <command> [flags]

  up [--nodes N] [--data DIR] [--port P] [--mesh] [--foreground]
                                                          start a cluster (default 2 nodes); --mesh
                                                          adds istiod-lite, the CNI agent and a ztunnel per node
  down [--data DIR] [--purge]                             stop it, remove every namespace/link/rule
  apply -f FILE|DIR [--data DIR]                          server-side apply manifests
  status [--data DIR]                                     nodes and pods
  exec POD [-n NS] [-c CONTAINER] [--data DIR] -- CMD...  run a command inside a pod's network
  logs POD [-n NS] [-c CONTAINER] [-f] [--data DIR]       a pod container's output

The data directory defaults to $LOCAL_CLUSTER_DATA or .data/local-cluster in the repository.`;

class UsageError extends MeshError<'ERR_USAGE'> {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

function kubeConfigFor(dataDir: string): KubeConfig {
  const path = kubeconfigFile(dataDir);
  if (!existsSync(path)) throw new UsageError(`no cluster in ${dataDir}: run 'local-cluster up' first`);
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

async function up(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string', default: '2' },
      data: { type: 'string' },
      port: { type: 'string' },
      mesh: { type: 'boolean', default: false },
      foreground: { type: 'boolean', default: false },
    },
  });
  const dataDir = resolve(values.data ?? defaultDataDir());
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw new UsageError(`--nodes must be a whole number from 1 to 50, got '${values.nodes}'`);
  const pid = runningPid(dataDir);
  if (pid !== undefined) {
    console.log(`a cluster is already running from ${dataDir} (pid ${pid}); KUBECONFIG=${kubeconfigFile(dataDir)}`);
    return 0;
  }
  const runArgs = ['--data', dataDir, '--nodes', String(nodes), ...(values.port ? ['--port', values.port] : []), ...(values.mesh ? ['--mesh'] : [])];
  if (values.foreground) return run(runArgs);

  mkdirSync(dataDir, { recursive: true });
  rmSync(readyFile(dataDir), { force: true });
  const out = openSync(logFile(dataDir), 'a');
  const child = spawn(process.execPath, [import.meta.filename, 'run', ...runArgs], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  // Generous: a loaded machine slows the start down; it should not fail it.
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (existsSync(readyFile(dataDir))) {
      console.log(readFileSync(readyFile(dataDir), 'utf8'));
      return 0;
    }
    if (child.exitCode !== null) break;
    await sleep(200);
  }
  console.error(`the cluster did not become ready; its log is ${logFile(dataDir)}:\n${tail(logFile(dataDir), 20)}`);
  return 1;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The cluster process: runs until SIGINT/SIGTERM, then stops everything it started. */
async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { nodes: { type: 'string', default: '2' }, data: { type: 'string' }, port: { type: 'string' }, mesh: { type: 'boolean', default: false } },
  });
  const dataDir = resolve(values.data ?? defaultDataDir());
  const logger = pino({ base: { component: 'local-cluster' } });
  const stopRequested = new Promise<void>((done) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, done);
  });
  const found = await claimDataDir(dataDir);
  for (const line of found) logger.info(line);
  try {
    const controlPlane = values.mesh ? [istiodProcess(dataDir, values.port === '0')] : [];
    const cluster = await startCluster({ dataDir, nodes: Number(values.nodes), ...(values.port ? { port: Number(values.port) } : {}), controlPlane, logger });
    try {
      if (values.mesh) await deployZtunnel(cluster);
      writeFileSync(readyFile(dataDir), [...found, readyMessage(dataDir, cluster.api.url, cluster.nodes.length)].join('\n'));
      logger.info({ url: cluster.api.url, nodes: cluster.nodes.length }, 'cluster ready');
      await stopRequested;
      logger.info('stopping');
    } finally {
      await cluster.stop();
    }
  } finally {
    // Also after a failed start: nothing the cluster started may outlive it.
    await stopCluster(dataDir);
  }
  return 0;
}

export function readyMessage(dataDir: string, url: string, nodes: number): string {
  return [
    `local cluster up: ${nodes} node(s), API server ${url}`,
    `  export KUBECONFIG=${kubeconfigFile(dataDir)}`,
    '  kubectl get nodes,pods -A -o wide',
    `  stop it with: npm run local-cluster -- down${dataDir === defaultDataDir() ? '' : ` --data ${dataDir}`}`,
  ].join('\n');
}

async function down(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { data: { type: 'string' }, purge: { type: 'boolean', default: false } } });
  const dataDir = resolve(values.data ?? defaultDataDir());
  for (const line of await stopCluster(dataDir)) console.log(line);
  if (values.purge) rmSync(dataDir, { recursive: true, force: true });
  console.log(`local cluster in ${dataDir} is down${values.purge ? ' and its data removed' : ''}`);
  return 0;
}

async function apply(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { filename: { type: 'string', short: 'f', multiple: true }, data: { type: 'string' } } });
  if (!values.filename?.length) throw new UsageError('apply needs -f FILE|DIR');
  const kc = kubeConfigFor(resolve(values.data ?? defaultDataDir()));
  for (const line of await applyManifests(
    kc,
    values.filename.flatMap((f) => readManifests(f)),
    'local-cluster',
  ))
    console.log(`${line} applied`);
  return 0;
}

async function status(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { data: { type: 'string' } } });
  const dataDir = resolve(values.data ?? defaultDataDir());
  const core = kubeConfigFor(dataDir).makeApiClient(CoreV1Api);
  const pid = runningPid(dataDir);
  console.log(pid === undefined ? `cluster process: not running (${dataDir})` : `cluster process: pid ${pid} (${dataDir})`);
  const nodes = await core.listNode();
  for (const n of nodes.items) {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    console.log(`node ${n.metadata?.name} ${ready ? 'Ready' : 'NotReady'} ${ip ?? ''} podCIDR=${n.spec?.podCIDR ?? ''}`);
  }
  const pods = await core.listPodForAllNamespaces();
  for (const p of pods.items) {
    const restarts = (p.status?.containerStatuses ?? []).reduce((s, c) => s + c.restartCount, 0);
    console.log(
      `pod ${p.metadata?.namespace}/${p.metadata?.name} ${p.status?.phase ?? 'Pending'} ip=${p.status?.podIP ?? '-'} node=${p.spec?.nodeName ?? '-'} restarts=${restarts}`,
    );
  }
  return 0;
}

async function exec(args: string[]): Promise<number> {
  const sep = args.indexOf('--');
  if (sep < 0 || sep === args.length - 1) throw new UsageError('exec needs a command after --');
  const { values, positionals } = parseArgs({
    args: args.slice(0, sep),
    allowPositionals: true,
    options: { namespace: { type: 'string', short: 'n', default: 'default' }, container: { type: 'string', short: 'c' }, data: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('exec needs exactly one POD');
  const dataDir = resolve(values.data ?? defaultDataDir());
  const core = kubeConfigFor(dataDir).makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ name: positionals[0]!, namespace: values.namespace });
  if (pod.status?.phase !== 'Running') throw new UsageError(`pod ${values.namespace}/${positionals[0]} is ${pod.status?.phase ?? 'Pending'}, not Running`);
  const clusterId = clusterIdFor(dataDir);
  const netns = pod.spec?.hostNetwork ? nodeNetns(clusterId, nodeIndex(pod.spec.nodeName ?? '')) : podNetns(clusterId, pod.metadata!.uid!);
  const env = {
    ...process.env,
    PATH: [...podBinPath(), process.env.PATH ?? '/usr/bin:/bin'].join(':'),
    POD_NAME: pod.metadata!.name!,
    POD_NAMESPACE: values.namespace,
    NODE_NAME: pod.spec?.nodeName ?? '',
    POD_IP: pod.status?.podIP ?? '',
  };
  const r = spawnSync('ip', ['netns', 'exec', netns, ...args.slice(sep + 1)], { stdio: 'inherit', env });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

async function logs(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n', default: 'default' },
      container: { type: 'string', short: 'c' },
      follow: { type: 'boolean', short: 'f', default: false },
      data: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('logs needs exactly one POD');
  const kc = kubeConfigFor(resolve(values.data ?? defaultDataDir()));
  const query = new URLSearchParams();
  if (values.container) query.set('container', values.container);
  if (values.follow) query.set('follow', 'true');
  // Through the API server's pods/log, as kubectl logs does.
  const path = `/api/v1/namespaces/${encodeURIComponent(values.namespace)}/pods/${encodeURIComponent(positionals[0]!)}/log?${query}`;
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser()!;
  return new Promise((done, fail) => {
    const req = httpsRequest(cluster.server + path, { ca: Buffer.from(cluster.caData!, 'base64'), headers: { authorization: `Bearer ${user.token}` } }, (r) => {
      r.pipe(process.stdout);
      r.on('end', () => done(r.statusCode === 200 ? 0 : 1));
    });
    req.on('error', fail);
    req.end();
  });
}

const commands: Record<string, (args: string[]) => Promise<number>> = { up, run, down, apply, status, exec, logs };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(usage);
    return cmd === undefined ? 1 : 0;
  }
  const handler = commands[cmd];
  if (!handler) {
    console.error(`unknown command '${cmd}'\n\n${usage}`);
    return 1;
  }
  return handler(rest);
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError || (err instanceof Error && /needs root/.test(err.message))) console.error(`local-cluster: ${err.message}`);
      else console.error('local-cluster:', err);
      process.exit(1);
    },
  );
}
