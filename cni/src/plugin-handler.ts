// The agent's side of each plugin call. ADD records the pod (namespace, name and uid from
// CNI_ARGS; netns from CNI_NETNS; IP from the previous plugin's result) and hands it to ztunnel;
// DEL forgets it; CHECK says whether the agent still has it; GC drops attachments the runtime no
// longer has. The result printed is the previous plugin's, unchanged: a chained plugin that
// only observes. Calls for one container run one after another, so a DEL that races its ADD
// (a pod deleted while it starts) always comes last and nothing is left behind.
import { basename } from 'node:path';
import type { Logger } from 'pino';
import type { PodInfo } from '@ambient/api';
import { CniError, cniErrorCodes, firstIpv4, parseCniArgs, parseNetConf, renderCniError, type NetConf, type PluginRequest } from './cni-request.ts';
import type { NodeAgentServer } from './node-agent-server.ts';
import { reconciledPrefix, type PodState } from './pod-state.ts';

/** A pod as the API server has it; null when it does not exist (any more). */
export interface PodFacts {
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
}
export type PodLookup = (namespace: string, name: string) => Promise<PodFacts | null>;

export interface PluginReply {
  exitCode: number;
  stdout: string;
}

export interface PluginHandlerDeps {
  state: PodState;
  server: NodeAgentServer;
  /** Present when the agent can read pods from the API server. */
  lookup?: PodLookup;
  logger: Logger;
  onRequest?: (command: string, ok: boolean) => void;
}

export class PluginHandler {
  readonly #deps: PluginHandlerDeps;
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(deps: PluginHandlerDeps) {
    this.#deps = deps;
  }

  handle(req: PluginRequest): Promise<PluginReply> {
    const key = req.containerId;
    const run = (this.#queues.get(key) ?? Promise.resolve()).then(() => this.#handle(req));
    const tail = run.catch(() => {});
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return run;
  }

  async #handle(req: PluginRequest): Promise<PluginReply> {
    let cniVersion = '1.0.0';
    try {
      const conf = req.command === 'DEL' || req.command === 'STATUS' ? tryParse(req.stdin) : parseNetConf(req.stdin);
      if (conf) cniVersion = conf.cniVersion;
      let stdout = '';
      switch (req.command) {
        case 'ADD':
          stdout = await this.#add(req, conf!);
          break;
        case 'DEL':
          this.#del(req.containerId, req.args);
          break;
        case 'CHECK':
          this.#check(req, conf!);
          break;
        case 'GC':
          this.#gc(conf!);
          break;
        case 'STATUS':
          break;
        default:
          throw new CniError(cniErrorCodes.invalidEnvironment, `unknown CNI_COMMAND ${JSON.stringify(req.command)}`);
      }
      this.#deps.onRequest?.(req.command, true);
      return { exitCode: 0, stdout };
    } catch (err) {
      this.#deps.logger.warn({ err, command: req.command, containerId: req.containerId }, 'plugin call failed');
      this.#deps.onRequest?.(req.command, false);
      return { exitCode: 1, stdout: renderCniError(cniVersion, err) };
    }
  }

  async #add(req: PluginRequest, conf: NetConf): Promise<string> {
    if (!conf.prevResult)
      throw new CniError(cniErrorCodes.invalidConfig, 'ambient-cni must be chained after the plugin that creates the pod interface (no prevResult)');
    if (req.containerId === '') throw new CniError(cniErrorCodes.invalidEnvironment, 'CNI_CONTAINERID is empty');
    if (req.netns === '') throw new CniError(cniErrorCodes.invalidEnvironment, 'CNI_NETNS is empty');
    const passThrough = `${JSON.stringify({ ...conf.prevResult, cniVersion: conf.cniVersion })}\n`;
    const args = parseCniArgs(req.args);
    const namespace = args.get('K8S_POD_NAMESPACE');
    const name = args.get('K8S_POD_NAME');
    const log = this.#deps.logger.child({ pod: `${namespace}/${name}`, containerId: req.containerId });
    if (!namespace || !name) {
      log.debug('not a Kubernetes pod (no K8S_POD_NAMESPACE/K8S_POD_NAME): passed through');
      return passThrough;
    }
    const ip = firstIpv4(conf.prevResult);
    if (!ip) {
      log.warn({ ips: conf.prevResult.ips }, 'the pod has no IPv4 address: not handed to ztunnel');
      return passThrough;
    }
    let uid = args.get('K8S_POD_UID') || undefined;
    let facts: PodFacts | null | undefined;
    if (this.#deps.lookup) {
      facts = await this.#deps.lookup(namespace, name);
      // Deleted (or replaced by a pod of the same name) while its sandbox was being set up: the
      // runtime's DEL follows; recording it would only leave an entry for that DEL to remove.
      if (facts === null || (uid !== undefined && facts.uid !== uid)) {
        log.info('the pod no longer exists: not recorded');
        return passThrough;
      }
      uid ??= facts.uid;
    }
    if (!uid) throw new CniError(cniErrorCodes.invalidEnvironment, 'CNI_ARGS has no K8S_POD_UID and the agent cannot read pods from the API server');
    const pod: PodInfo = {
      uid,
      name,
      namespace,
      ip,
      netns: basename(req.netns),
      netnsPath: req.netns,
      ...(facts ? { labels: facts.labels, annotations: facts.annotations, serviceAccount: facts.serviceAccount } : {}),
    };
    // A new sandbox for the same pod replaces the old one's attachment.
    const earlier = this.#deps.state.byUid(uid);
    if (earlier && earlier.containerId !== req.containerId) this.#deps.state.delete(earlier.containerId);
    this.#deps.state.set({ containerId: req.containerId, ifName: req.ifName, pod });
    this.#deps.server.podAdded(pod);
    log.info({ ip, netns: req.netns }, 'pod added');
    return passThrough;
  }

  /** Forgets the attachment; one the agent found at start (not by ADD) is named by the pod's uid. */
  #del(containerId: string, cniArgs = ''): void {
    let uid: string | undefined;
    try {
      uid = parseCniArgs(cniArgs).get('K8S_POD_UID');
    } catch {
      uid = undefined;
    }
    const id = this.#deps.state.get(containerId) || !uid ? containerId : `${reconciledPrefix}${uid}`;
    const gone = this.#deps.state.delete(id);
    if (!gone) return;
    this.#deps.server.podRemoved(gone.pod);
    this.#deps.logger.info({ pod: `${gone.pod.namespace}/${gone.pod.name}`, containerId: id }, 'pod removed');
  }

  #check(req: PluginRequest, conf: NetConf): void {
    const args = parseCniArgs(req.args);
    if (!args.get('K8S_POD_NAMESPACE') || !args.get('K8S_POD_NAME') || !firstIpv4(conf.prevResult)) return;
    const known = this.#deps.state.get(req.containerId);
    if (!known)
      throw new CniError(cniErrorCodes.unknownContainer, `the node agent has no pod for container ${req.containerId}: its traffic is not handed to ztunnel`);
    if (known.pod.ip !== firstIpv4(conf.prevResult))
      throw new CniError(cniErrorCodes.invalidConfig, `the node agent has ${known.pod.ip} for this pod, the runtime ${firstIpv4(conf.prevResult)}`);
  }

  /** CNI 1.1 GC: `cni.dev/valid-attachments` lists every attachment the runtime still has. */
  #gc(conf: NetConf): void {
    const valid = conf['cni.dev/valid-attachments'];
    if (!Array.isArray(valid)) throw new CniError(cniErrorCodes.invalidConfig, 'GC without cni.dev/valid-attachments');
    const keep = new Set(valid.map((v) => (v as { containerID?: unknown }).containerID).filter((id): id is string => typeof id === 'string'));
    for (const a of this.#deps.state.all()) if (!keep.has(a.containerId)) this.#del(a.containerId);
  }
}

/** DEL must succeed whatever its stdin: a runtime cleaning up may send a config we cannot read. */
function tryParse(stdin: string): NetConf | undefined {
  try {
    return parseNetConf(stdin);
  } catch {
    return undefined;
  }
}
