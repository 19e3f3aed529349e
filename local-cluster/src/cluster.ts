// The local cluster's composition root: the embedded API server, the network fabric, one
// kubelet and node-agent hook per node, and the controllers, started in that order and
// stopped in reverse.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { startApiServer, type ApiServer } from './apiserver/index.ts';
import { checkPrivileges, ClusterNetwork, NodeAgentHook, nodeAgentSocketPath, type NodeNet } from './runtime/index.ts';
import { Kubelet } from './kubelet/index.ts';
import { startControllers, type ClusterContext } from './controllers/index.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface ClusterOptions {
  dataDir: string;
  nodes: number;
  /** API server port; undefined reuses the port of the previous run, else 6443. 0 = ephemeral. */
  port?: number;
  logger: Logger;
}

export interface NodeHandle {
  net: NodeNet;
  hook: NodeAgentHook;
  kubelet: Kubelet;
  /** Unix socket on which the node agent hook serves pod add/remove events. */
  nodeAgentSocket: string;
}

export interface Cluster {
  dataDir: string;
  api: ApiServer;
  network: ClusterNetwork;
  nodes: NodeHandle[];
  kubeConfig: KubeConfig;
  /** Stops everything it started; pods' processes and namespaces go, API state stays on disk. */
  stop(): Promise<void>;
}

/** Directories put first on PATH for pod commands: the sample apps, then the pinned Node. */
export function podBinPath(): string[] {
  return [join(repoRoot, 'examples/bin'), dirname(process.execPath)];
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
  await checkPrivileges();
  mkdirSync(dataDir, { recursive: true });

  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => logger.warn({ err }, 'cleanup step failed'));
  };

  try {
    const api = await startApiServer({ dataDir, ...(opts.port === undefined ? {} : { port: opts.port }), logger: logger.child({ component: 'apiserver' }) });
    cleanups.push(() => api.close());
    const network = await ClusterNetwork.create({ dataDir, logger: logger.child({ component: 'network' }) });
    cleanups.push(() => network.destroy());

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(api.kubeconfigPath);
    const ctx: ClusterContext = { kubeConfig, network, dataDir, logger, binPath: podBinPath() };

    const nodes: NodeHandle[] = [];
    for (let i = 1; i <= opts.nodes; i++) {
      const net = await network.addNode(i, nodeName(i));
      const hook = new NodeAgentHook();
      const nodeAgentSocket = nodeAgentSocketPath(dataDir, net.name);
      mkdirSync(dirname(nodeAgentSocket), { recursive: true });
      await hook.start(nodeAgentSocket);
      cleanups.push(() => hook.close());
      const kubelet = new Kubelet(ctx, net, hook);
      await kubelet.start();
      cleanups.push(() => kubelet.stop());
      nodes.push({ net, hook, kubelet, nodeAgentSocket });
    }
    const controllers = await startControllers(ctx);
    cleanups.push(() => controllers.stop());

    let stopped = false;
    return {
      dataDir,
      api,
      network,
      nodes,
      kubeConfig,
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
