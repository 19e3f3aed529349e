// The local cluster's composition root: the embedded API server, the network fabric, one
// kubelet per node (with the node's CNI configuration), and the controllers, started in that
// order and stopped in reverse.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { startApiServer, type ApiServer } from './apiserver/index.ts';
import { checkPrivileges, clusterIdEnv, ClusterNetwork, type NodeNet } from './runtime/index.ts';
import { assertComponentsBuilt, repoRoot } from './components.ts';
import { Kubelet } from './kubelet/index.ts';
import { startControllers, type ClusterContext } from './controllers/index.ts';

export { repoRoot } from './components.ts';

/** The node-agent socket of a node of the cluster at `dataDir` (what /var/run/ztunnel/node-agent.sock is on a real node). */
export function nodeAgentSocketPath(dataDir: string, nodeName: string): string {
  return join(dataDir, 'nodes', nodeName, 'node-agent.sock');
}

/**
 * A control-plane process (istiod-lite, later others) run on the host next to the API server,
 * as static pods would be: it listens on loopback and reaches the API with the admin
 * kubeconfig (in $KUBECONFIG). Its output goes to <data>/<name>.log.
 */
export interface ControlPlaneProcess {
  name: string;
  command: string[];
  /** A stdout line matching this means ready; its JSON is returned as `ready`. */
  readyLine: RegExp;
}

export interface RunningControlPlaneProcess {
  name: string;
  pid: number;
  /** The parsed ready line. */
  ready: Record<string, unknown>;
}

export interface ClusterOptions {
  dataDir: string;
  nodes: number;
  controlPlane?: ControlPlaneProcess[];
  /** API server port; undefined reuses the port of the previous run, else 6443. 0 = ephemeral. */
  port?: number;
  logger: Logger;
}

export interface NodeHandle {
  net: NodeNet;
  kubelet: Kubelet;
  /** Where the node's CNI agent (istio-cni-node, once deployed) serves ztunnel pod add/remove events. */
  nodeAgentSocket: string;
}

export interface Cluster {
  dataDir: string;
  api: ApiServer;
  network: ClusterNetwork;
  nodes: NodeHandle[];
  kubeConfig: KubeConfig;
  controlPlane: RunningControlPlaneProcess[];
  /**
   * Stops the API server (its watches end, its clients see connections refused), waits
   * `downMs`, and starts it again on the same port from the same data directory: what the
   * kubelets, controllers and istiod-lite see when a real kube-apiserver restarts. `api` is the
   * new server afterwards.
   */
  restartApiServer(downMs?: number): Promise<void>;
  /** Stops everything it started; pods' processes and namespaces go, API state stays on disk. */
  stop(): Promise<void>;
}

/** Directories put first on PATH for pod commands: the sample apps, the waypoint (the command
 *  of the Deployments istiod-lite renders for waypoint Gateways), the sidecar (the command of
 *  the istio-proxy container its webhook injects), then the pinned Node. */
export function podBinPath(): string[] {
  return [join(repoRoot, 'examples/bin'), join(repoRoot, 'waypoint/bin'), join(repoRoot, 'sidecar/bin'), dirname(process.execPath)];
}

export function nodeName(index: number): string {
  return `node-${index}`;
}

/** The index of a node named by nodeName(); NaN for a name this cluster did not give. */
export function nodeIndex(name: string): number {
  const m = /^node-(\d+)$/.exec(name);
  return m ? Number(m[1]) : Number.NaN;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dataDir = resolve(opts.dataDir);
  const logger = opts.logger;
  assertComponentsBuilt();
  await checkPrivileges();
  mkdirSync(dataDir, { recursive: true });

  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => logger.warn({ err }, 'cleanup step failed'));
  };

  try {
    const apiLogger = logger.child({ component: 'apiserver' });
    let api = await startApiServer({ dataDir, ...(opts.port === undefined ? {} : { port: opts.port }), logger: apiLogger });
    cleanups.push(() => api.close());
    const network = await ClusterNetwork.create({ dataDir, logger: logger.child({ component: 'network' }) });
    cleanups.push(() => network.destroy());

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(api.kubeconfigPath);
    const ctx: ClusterContext = { kubeConfig, network, dataDir, logger, binPath: podBinPath() };

    const nodes: NodeHandle[] = [];
    for (let i = 1; i <= opts.nodes; i++) {
      const net = await network.addNode(i, nodeName(i));
      const kubelet = new Kubelet(ctx, net);
      await kubelet.start();
      cleanups.push(() => kubelet.stop());
      nodes.push({ net, kubelet, nodeAgentSocket: nodeAgentSocketPath(dataDir, net.name) });
    }
    const controllers = await startControllers(ctx);
    cleanups.push(() => controllers.stop());

    const controlPlane: RunningControlPlaneProcess[] = [];
    for (const spec of opts.controlPlane ?? []) {
      const { process: child, ready } = await startControlPlaneProcess(spec, dataDir, { KUBECONFIG: api.kubeconfigPath, [clusterIdEnv]: network.clusterId });
      cleanups.push(() => stopProcess(child));
      controlPlane.push({ name: spec.name, pid: child.pid!, ready });
    }

    let stopped = false;
    return {
      dataDir,
      get api() {
        return api;
      },
      network,
      nodes,
      kubeConfig,
      controlPlane,
      async restartApiServer(downMs = 0) {
        const port = Number(new URL(api.url).port);
        await api.close();
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        api = await startApiServer({ dataDir, port, logger: apiLogger });
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await unwind();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

async function startControlPlaneProcess(
  spec: ControlPlaneProcess,
  dataDir: string,
  env: Record<string, string>,
): Promise<{ process: ChildProcess; ready: Record<string, unknown> }> {
  const logPath = join(dataDir, `${spec.name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(spec.command[0]!, spec.command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(log);
  const ready = await new Promise<Record<string, unknown>>((done, fail) => {
    // Generous: a loaded machine slows the start down; it should not fail it.
    const timer = setTimeout(() => fail(new Error(`${spec.name} did not become ready in 120 s; see ${logPath}`)), 120_000);
    let buffered: string | undefined = ''; // undefined once ready
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (buffered === undefined) return;
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => spec.readyLine.test(l));
      if (line === undefined) return;
      buffered = undefined;
      clearTimeout(timer);
      done(JSON.parse(line) as Record<string, unknown>);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      // Its last words usually say why (a port in use, a bad flag): show them.
      log.end(() => fail(new Error(`${spec.name} exited with ${code} before it was ready: ${lastLogLine(logPath)} (see ${logPath})`)));
    });
  }).catch(async (err: unknown) => {
    await stopProcess(child);
    throw err;
  });
  return { process: child, ready };
}

function lastLogLine(path: string): string {
  try {
    const line = readFileSync(path, 'utf8').trimEnd().split('\n').at(-1) ?? '';
    const json = JSON.parse(line) as { msg?: string; err?: { message?: string } };
    return [json.msg, json.err?.message].filter(Boolean).join(': ') || line;
  } catch {
    return 'no log line';
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
