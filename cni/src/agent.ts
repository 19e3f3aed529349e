// The CNI node agent: one per node. It starts from what it knew before a restart (pods.json in
// its run dir, each pod checked against its netns) and serves that to ztunnel; then serves the
// plugin and installs it (executable, then conflist entry, kept in place by ConflistGuard); and
// only then looks for pods attached before it was in the chain — in the runtime's CNI cache,
// and on the API server when it can read it — so that no pod falls between the two (a pod
// attached meanwhile reaches it by ADD). Ready once the entry is in the primary conflist.
import { existsSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PodInfo } from '@ambient/api';
import { ConflistGuard, installPluginBinary, pluginType } from './install.ts';
import { netnsAddresses, type AddressProbe } from './netns-probe.ts';
import { NodeAgentServer } from './node-agent-server.ts';
import { PluginHandler, type PodLookup } from './plugin-handler.ts';
import { startPluginServer } from './plugin-server.ts';
import { PodState, reconciledPrefix, type PodAttachment } from './pod-state.ts';
import { readRuntimeCache } from './runtime-cache.ts';

/** A pod of this node as the API server lists it. */
export interface NodePod {
  uid: string;
  name: string;
  namespace: string;
  ip?: string;
  hostNetwork: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
}

export interface CniAgentOptions {
  nodeName: string;
  confDir: string;
  binDir: string;
  /** Holds plugin.sock (the plugin's way in) and pods.json (the state). */
  runDir: string;
  nodeAgentSocket: string;
  pluginBinary: string;
  /** Where the runtime names pod network namespaces (containerd and CRI-O: /var/run/netns). */
  netnsDir: string;
  /** The runtime's CNI result cache (libcni: /var/lib/cni/results). */
  cniCacheDir?: string;
  /** The API server's view, when the agent can read it. */
  api?: { lookup: PodLookup; nodePods: () => Promise<NodePod[]> };
  probe?: AddressProbe;
  resyncMs?: number;
  logger: Logger;
  onPluginCall?: (command: string, ok: boolean) => void;
  onRepair?: () => void;
}

export class CniAgent {
  readonly state: PodState;
  readonly server = new NodeAgentServer();
  readonly #guard: ConflistGuard;
  readonly logger: Logger;
  #pluginServer: Server | undefined;
  #chained = false;

  private constructor(state: PodState, guard: ConflistGuard, logger: Logger) {
    this.state = state;
    this.#guard = guard;
    this.logger = logger;
  }

  static async start(opts: CniAgentOptions): Promise<CniAgent> {
    const logger = opts.logger;
    const probe = opts.probe ?? netnsAddresses;
    const pluginSocket = join(opts.runDir, 'plugin.sock');
    const { state, loaded, problem } = PodState.load(join(opts.runDir, 'pods.json'));
    if (problem) logger.warn({ problem }, 'the state file could not be read: starting empty');
    const guard = new ConflistGuard(opts.confDir, { type: pluginType, agent_socket: pluginSocket }, { resyncMs: opts.resyncMs ?? 5_000 });
    const agent = new CniAgent(state, guard, logger);
    state.restore(await stillPresent(loaded, probe, logger));
    for (const a of state.all()) agent.server.podAdded(a.pod);
    const handler = new PluginHandler({
      state,
      server: agent.server,
      logger,
      ...(opts.api ? { lookup: opts.api.lookup } : {}),
      ...(opts.onPluginCall ? { onRequest: opts.onPluginCall } : {}),
    });
    try {
      await agent.server.start(opts.nodeAgentSocket);
      agent.#pluginServer = await startPluginServer(pluginSocket, (req) => handler.handle(req), logger);
      if (installPluginBinary(opts.pluginBinary, opts.binDir)) logger.info({ binDir: opts.binDir }, 'plugin installed');
      guard.on('repaired', (file) => {
        if (!agent.#chained) logger.info({ file }, 'chained into the primary CNI config');
        else {
          opts.onRepair?.();
          logger.warn({ file }, 'the primary CNI config had lost the ambient-cni entry: put back');
        }
        agent.#chained = true;
      });
      guard.on('error', (err) => logger.error({ err }, 'checking the primary CNI config failed'));
      const outcome = guard.start();
      agent.#chained = outcome !== 'no-primary';
      if (!agent.#chained) logger.warn({ confDir: opts.confDir }, 'no primary CNI config yet: waiting for one to chain after');
      const found = new PodsFound(agent, opts.netnsDir, probe);
      if (opts.cniCacheDir) await found.fromRuntimeCache(opts.cniCacheDir);
      if (opts.api) await found.fromApi(opts.api);
    } catch (err) {
      await agent.stop();
      throw err;
    }
    logger.info({ pods: state.all().length, pluginSocket }, 'cni agent started');
    return agent;
  }

  /** Undefined when ready, else why not. */
  notReady(): string | undefined {
    return this.#chained ? undefined : 'the plugin is not in a primary CNI config yet';
  }

  /** Stops serving; the plugin stays installed (a pod started meanwhile fails its ADD and is retried, never left uncaptured). */
  async stop(): Promise<void> {
    this.#guard.stop();
    const s = this.#pluginServer;
    this.#pluginServer = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    await this.server.close();
  }
}

/** Pods attached before the agent was in the chain, found and handed to ztunnel. */
class PodsFound {
  readonly #agent: CniAgent;
  readonly #netnsDir: string;
  readonly #probe: AddressProbe;
  #byIp: Map<string, string> | undefined;

  constructor(agent: CniAgent, netnsDir: string, probe: AddressProbe) {
    this.#agent = agent;
    this.#netnsDir = netnsDir;
    this.#probe = probe;
  }

  /** From the runtime's CNI cache: the attachment keeps its container id, so the runtime's DEL finds it. */
  async fromRuntimeCache(dir: string): Promise<void> {
    for (const c of readRuntimeCache(dir)) {
      if (this.#agent.state.byUid(c.uid)) continue;
      const netnsPath = c.netns && (await this.#probe(c.netns)).includes(c.ip) ? c.netns : await this.#netnsOf(c.ip);
      this.#add(c.containerId, c.ifName, { uid: c.uid, name: c.name, namespace: c.namespace, ip: c.ip }, netnsPath);
    }
  }

  /** From the API server: the node's pods not known yet; and recorded pods it no longer has are dropped. */
  async fromApi(api: NonNullable<CniAgentOptions['api']>): Promise<void> {
    const pods = await api.nodePods();
    const live = new Set(pods.map((p) => p.uid));
    for (const a of this.#agent.state.all()) {
      if (live.has(a.pod.uid)) continue;
      this.#agent.state.delete(a.containerId);
      this.#agent.server.podRemoved(a.pod);
    }
    for (const p of pods) {
      if (p.hostNetwork || !p.ip || this.#agent.state.byUid(p.uid)) continue;
      const { hostNetwork: _h, ip, ...facts } = p;
      this.#add(`${reconciledPrefix}${p.uid}`, 'eth0', { ...facts, ip }, await this.#netnsOf(ip));
    }
  }

  #add(containerId: string, ifName: string, pod: Omit<PodInfo, 'netns' | 'netnsPath'>, netnsPath: string | undefined): void {
    const log = this.#agent.logger.child({ pod: `${pod.namespace}/${pod.name}` });
    if (!netnsPath) return void log.warn({ ip: pod.ip }, 'a pod of this node has no netns with its address: not handed to ztunnel');
    const info: PodInfo = { ...pod, netns: netnsPath.split('/').at(-1)!, netnsPath };
    this.#agent.state.set({ containerId, ifName, pod: info });
    this.#agent.server.podAdded(info);
    log.info({ netns: netnsPath }, 'pod attached before the agent: found');
  }

  /** The named netns holding `ip`, from one scan of the netns dir. */
  async #netnsOf(ip: string): Promise<string | undefined> {
    if (!this.#byIp) {
      this.#byIp = new Map();
      for (const name of existsSync(this.#netnsDir) ? readdirSync(this.#netnsDir).sort() : []) {
        const path = join(this.#netnsDir, name);
        for (const a of await this.#probe(path)) if (!this.#byIp.has(a)) this.#byIp.set(a, path);
      }
    }
    return this.#byIp.get(ip);
  }
}

/** The recorded attachments whose netns still exists and still has the pod's IP. */
async function stillPresent(loaded: PodAttachment[], probe: AddressProbe, logger: Logger): Promise<PodAttachment[]> {
  const kept: PodAttachment[] = [];
  for (const a of loaded) {
    if ((await probe(a.pod.netnsPath)).includes(a.pod.ip)) kept.push(a);
    else logger.info({ pod: `${a.pod.namespace}/${a.pod.name}`, netns: a.pod.netnsPath }, 'recorded pod is gone: dropped');
  }
  return kept;
}
