// The cluster's network: a fabric netns with a bridge joining one netns per node; each node has
// a bridge (cni0) joining one netns per pod. Pods are wired as on a real node: the node's CNI
// network list (the reference bridge + host-local plugins, written once as the node's primary
// CNI, with whatever a CNI agent chains after them) is run by CniRuntime. Every step converges,
// so each call is idempotent and a restarted cluster picks up what is already there.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { checkPrivileges } from './check-privileges.ts';
import { CniPluginError, CniRuntime, type CniAttachment, type CniResult } from './cni-runtime.ts';
import { ipBinary, mustRun, runCommand } from './exec.ts';
import { deleteNetns, ensureNetns, netnsExists } from './netns.ts';
import {
  checkNodeIndex,
  checkPodIp,
  clusterIdFor,
  fabricBridgeIp,
  fabricNetns,
  netnsPath,
  nodeIp,
  nodeNetns,
  nodeVeth,
  podCidr,
  podGateway,
  podKey,
  podNetns,
  serviceCidr,
} from './network-plan.ts';
import { initNetnsEtc, netnsEtcDir, removeNetnsEtc, writeNetnsHosts, type HostsEntry } from './pod-hosts.ts';
import { parseIptablesSave, renderNodeBaseRules, renderServiceRules, type ServiceRule } from './service-rules.ts';
import { teardownCluster } from './teardown-cluster.ts';

export interface NodeNet {
  name: string;
  index: number;
  netns: string;
  ip: string;
  podCidr: string;
  gateway: string;
}
export interface PodNet {
  netns: string;
  netnsPath: string;
  ip: string;
  node: NodeNet;
  hostNetwork: boolean;
}

/** A pod as the runtime tells CNI about it (CNI_ARGS). */
export interface PodIdentity {
  uid: string;
  namespace: string;
  name: string;
}

/** Where a node keeps its CNI files, as /etc/cni/net.d, /opt/cni/bin, /var/lib/cni and (the
 *  CNI agent's) /var/run/ambient-cni on a real node. */
export function nodeCniDirs(dataDir: string, nodeName: string): { confDir: string; binDir: string; cacheDir: string; ipamDir: string; agentRunDir: string } {
  const base = join(dataDir, 'nodes', nodeName, 'cni');
  return {
    confDir: join(base, 'net.d'),
    binDir: join(base, 'bin'),
    cacheDir: join(base, 'results'),
    ipamDir: join(base, 'networks'),
    agentRunDir: join(base, 'run'),
  };
}

/** The CNI reference plugins (bridge, host-local, loopback) from the distribution's package. */
export const referencePluginDirs = ['/usr/lib/cni', '/opt/cni/bin'];

/** The node's primary CNI: the reference bridge on cni0 with host-local addresses from the node's pod CIDR. */
export function primaryNetworkList(node: NodeNet, ipamDir: string): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'local-cluster',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        // A pod reaches itself through a ClusterIP: the reply goes back out its own port.
        hairpinMode: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: node.podCidr, gateway: node.gateway }]], dataDir: ipamDir },
      },
    ],
  };
}

const nodeNameRe = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

async function ip(...args: string[]): Promise<void> {
  await mustRun([ipBinary(), ...args]);
}

async function linkExists(netns: string, dev: string): Promise<boolean> {
  return (await runCommand([ipBinary(), '-n', netns, 'link', 'show', 'dev', dev])).code === 0;
}

async function inNetns(netns: string, command: string[], input?: string): Promise<string> {
  return mustRun([ipBinary(), 'netns', 'exec', netns, ...command], input === undefined ? {} : { input });
}

async function ensureNetnsWithLoopback(netns: string): Promise<void> {
  await ensureNetns(netns);
  await ip('-n', netns, 'link', 'set', 'lo', 'up');
}

/** The netns' /etc overrides, created once: later calls must not wipe hosts entries. */
async function ensureNetnsEtc(netns: string): Promise<void> {
  if (!existsSync(join(netnsEtcDir(netns), 'hosts'))) await initNetnsEtc(netns);
}

/**
 * The fixed, locally administered MAC of an address's interface (02:00 + the IPv4 octets).
 * A bridge (the node's cni0, which the CNI bridge plugin then finds and keeps) gets one because otherwise Linux gives it the lowest MAC among its ports, so
 * deleting a pod could change the gateway's MAC under the other pods' ARP caches and cut them
 * off from everything beyond their node (the CNI bridge plugin pins it for the same reason).
 */
export function macFor(ip: string): string {
  return `02:00:${ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join(':')}`;
}

async function ensureBridge(netns: string, dev: string, cidr: string): Promise<void> {
  if (!(await linkExists(netns, dev))) await ip('-n', netns, 'link', 'add', dev, 'address', macFor(cidr.split('/')[0]!), 'type', 'bridge');
  await ip('-n', netns, 'addr', 'replace', cidr, 'dev', dev);
  await ip('-n', netns, 'link', 'set', dev, 'up');
}

export class ClusterNetwork {
  readonly clusterId: string;
  readonly dataDir: string;
  readonly #logger: Logger;
  readonly #cni = new Map<number, CniRuntime>();
  readonly #nodes = new Map<number, NodeNet>();
  readonly #hostNetworkPods = new Set<string>(); // uids of hostNetwork pods: they own no netns
  readonly #podKeys = new Map<string, string>(); // pod key (netns suffix) -> uid, to catch collisions
  readonly #locks = new Map<string, Promise<unknown>>();

  private constructor(clusterId: string, dataDir: string, logger: Logger) {
    this.clusterId = clusterId;
    this.dataDir = dataDir;
    this.#logger = logger;
  }

  /** Checks privileges and creates the fabric (or reuses the one left by an earlier run). */
  static async create(opts: { dataDir: string; logger?: Logger }): Promise<ClusterNetwork> {
    await checkPrivileges();
    const id = clusterIdFor(opts.dataDir);
    const logger = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'cluster-network', clusterId: id });
    const net = new ClusterNetwork(id, opts.dataDir, logger);
    const fabric = fabricNetns(id);
    await ensureNetnsWithLoopback(fabric);
    await ensureBridge(fabric, 'br0', `${fabricBridgeIp}/24`);
    logger.debug({ netns: fabric }, 'fabric ready');
    return net;
  }

  nodes(): NodeNet[] {
    return [...this.#nodes.values()].sort((a, b) => a.index - b.index);
  }

  async addNode(index: number, name: string): Promise<NodeNet> {
    checkNodeIndex(index);
    if (!nodeNameRe.test(name)) throw new TypeError(`invalid node name: ${JSON.stringify(name)}`);
    const known = this.#nodes.get(index);
    if (known && known.name !== name) throw new Error(`node index ${index} is already used by node ${JSON.stringify(known.name)}, not ${JSON.stringify(name)}`);
    const other = this.nodes().find((n) => n.name === name && n.index !== index);
    if (other) throw new Error(`node ${JSON.stringify(name)} already has index ${other.index}, not ${index}`);
    return this.#serial(`node:${index}`, async () => {
      const node: NodeNet = {
        name,
        index,
        netns: nodeNetns(this.clusterId, index),
        ip: nodeIp(index),
        podCidr: podCidr(index),
        gateway: podGateway(index),
      };
      const fabric = fabricNetns(this.clusterId);
      const uplink = nodeVeth(index);
      await ensureNetnsWithLoopback(node.netns);
      if (!(await linkExists(node.netns, 'eth0'))) {
        await runCommand([ipBinary(), '-n', fabric, 'link', 'del', uplink]); // a half-made pair from a crash
        await ip('-n', fabric, 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns);
      }
      await ip('-n', fabric, 'link', 'set', uplink, 'master', 'br0', 'up');
      await ip('-n', node.netns, 'addr', 'replace', `${node.ip}/24`, 'dev', 'eth0');
      await ip('-n', node.netns, 'link', 'set', 'eth0', 'up');
      await ensureBridge(node.netns, 'cni0', `${node.gateway}/24`);
      // Pods reach ClusterIPs and each other through cni0 and back out of it; ICMP redirects
      // for that would teach pods to skip the node (breaking DNAT) and eat the ICMP rate limit
      // that REJECT needs to refuse connections quickly.
      await inNetns(node.netns, [
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.send_redirects=0',
        'net.ipv4.conf.default.send_redirects=0',
        'net.ipv4.conf.cni0.send_redirects=0',
        'net.ipv4.conf.eth0.send_redirects=0',
      ]);
      // Needed for the node's own connections to ClusterIPs: without a route, connect() fails
      // before the OUTPUT DNAT ever sees the packet.
      await ip('-n', node.netns, 'route', 'replace', serviceCidr, 'dev', 'cni0', 'src', node.gateway);
      const saved = parseIptablesSave(await inNetns(node.netns, ['iptables-save', '-t', 'nat']));
      await inNetns(node.netns, ['iptables-restore', '-w', '5', '--noflush'], renderNodeBaseRules(node.podCidr, saved));
      await ensureNetnsEtc(node.netns);
      this.#cni.set(index, this.#installPrimaryCni(node));
      for (const peer of this.#nodes.values()) {
        if (peer.index === index) continue;
        await ip('-n', node.netns, 'route', 'replace', peer.podCidr, 'via', peer.ip, 'dev', 'eth0');
        await ip('-n', peer.netns, 'route', 'replace', node.podCidr, 'via', node.ip, 'dev', 'eth0');
      }
      this.#nodes.set(index, node);
      this.#logger.debug({ node: name, netns: node.netns, ip: node.ip, podCidr: node.podCidr }, 'node ready');
      return node;
    });
  }

  /**
   * The pod's netns, wired by the node's CNI network list. Anything an earlier run left is
   * detached first (CNI DEL), and the pod attached again, keeping `preferredIp` if it is free.
   * A failed attach is undone (DEL), so nothing is left half-made.
   */
  async addPod(node: NodeNet, pod: PodIdentity & { hostNetwork?: boolean; preferredIp?: string }): Promise<PodNet> {
    this.#checkNode(node);
    if (!pod.uid) throw new TypeError('pod uid is empty');
    if (pod.hostNetwork) {
      this.#hostNetworkPods.add(pod.uid);
      return { netns: node.netns, netnsPath: netnsPath(node.netns), ip: node.ip, node, hostNetwork: true };
    }
    const key = podKey(pod.uid);
    const owner = this.#podKeys.get(key);
    if (owner !== undefined && owner !== pod.uid)
      throw new Error(`pod uid ${pod.uid} collides with pod ${owner} on netns name ${podNetns(this.clusterId, pod.uid)}`);
    this.#podKeys.set(key, pod.uid);
    return this.#serial(`pod:${pod.uid}`, async () => {
      const netns = podNetns(this.clusterId, pod.uid);
      const cni = this.#cni.get(node.index)!;
      const leftover = netnsExists(netns);
      await ensureNetns(netns);
      await cni.loopback(netnsPath(netns), pod.uid);
      const attachment = (ip?: string): CniAttachment => ({ containerId: pod.uid, netnsPath: netnsPath(netns), ifName: 'eth0', args: cniArgs(pod, ip) });
      // Whatever an earlier run left (an interface, host-local's hold on the address, known by
      // its cached result) goes first, so the address can be asked for again.
      if (leftover || cni.attached(attachment())) await cni.del(attachment());
      const preferred = pod.preferredIp && pod.preferredIp !== node.gateway ? pod.preferredIp : undefined;
      // A failed ADD is undone whole (DEL, then the netns), so a pod deleted before its retry
      // leaves nothing behind.
      const undo = async (err: unknown): Promise<never> => {
        await cni.del(attachment()).catch(() => {});
        await deleteNetns(netns);
        await removeNetnsEtc(netns);
        throw err;
      };
      let result: CniResult;
      try {
        result = await cni.add(attachment(preferred));
      } catch (err) {
        // The address it had may be someone else's now, or not in this node's range (the bridge
        // plugin's IPAM refused it): any free one will do.
        if (!preferred || !(err instanceof CniPluginError && err.plugin === 'bridge')) return undo(err);
        await cni.del(attachment()).catch(() => {});
        result = await cni.add(attachment()).catch(undo);
      }
      const podIp = result.ips?.map((i) => i.address.split('/')[0]!).find((a) => a.includes('.'));
      if (!podIp) throw new Error(`the CNI result for pod ${pod.namespace}/${pod.name} has no IPv4 address: ${JSON.stringify(result.ips)}`);
      checkPodIp(podIp, node.podCidr);
      // The bridge plugin gives eth0 a random MAC: pinned instead (see macFor).
      await ip('-n', netns, 'link', 'set', 'eth0', 'address', macFor(podIp));
      await ensureNetnsEtc(netns);
      this.#logger.debug({ uid: pod.uid, netns, ip: podIp, node: node.name }, 'pod network ready');
      return { netns, netnsPath: netnsPath(netns), ip: podIp, node, hostNetwork: false };
    });
  }

  /** Detaches the pod (CNI DEL), kills its processes and deletes its netns and /etc/netns dir.
   *  A hostNetwork pod shares the node's netns, so nothing is killed or deleted for it: its
   *  processes are the kubelet's to stop. Idempotent. */
  async removePod(node: NodeNet, pod: PodIdentity): Promise<void> {
    this.#checkNode(node);
    if (this.#hostNetworkPods.delete(pod.uid)) return;
    return this.#serial(`pod:${pod.uid}`, async () => {
      const netns = podNetns(this.clusterId, pod.uid);
      if (netnsExists(netns)) await this.#cni.get(node.index)!.del({ containerId: pod.uid, netnsPath: netnsPath(netns), ifName: 'eth0', args: cniArgs(pod) });
      await deleteNetns(netns);
      await removeNetnsEtc(netns);
      if (this.#podKeys.get(podKey(pod.uid)) === pod.uid) this.#podKeys.delete(podKey(pod.uid));
      this.#logger.debug({ uid: pod.uid, netns }, 'pod network removed');
    });
  }

  /** The node's CNI runtime, for running its network list by hand (tests). */
  cniRuntime(node: NodeNet): CniRuntime {
    this.#checkNode(node);
    return this.#cni.get(node.index)!;
  }

  /** Writes the primary network list once (a CNI agent may have chained itself after it since). */
  #installPrimaryCni(node: NodeNet): CniRuntime {
    const dirs = nodeCniDirs(this.dataDir, node.name);
    for (const d of [dirs.confDir, dirs.binDir]) mkdirSync(d, { recursive: true });
    const conflist = join(dirs.confDir, '10-local-cluster.conflist');
    if (!existsSync(conflist)) writeFileSync(conflist, `${JSON.stringify(primaryNetworkList(node, dirs.ipamDir), null, 2)}\n`);
    return new CniRuntime({ confDir: dirs.confDir, binDirs: [dirs.binDir, ...referencePluginDirs], cacheDir: dirs.cacheDir, netnsPath: netnsPath(node.netns) });
  }

  /** Replaces the node's service NAT rules atomically (iptables-restore --noflush on our own
   *  chains only). A malformed rule rejects the whole batch before anything changes. */
  async setServiceRules(node: NodeNet, services: ServiceRule[]): Promise<void> {
    this.#checkNode(node);
    renderServiceRules(services); // validate before queueing
    return this.#serial(`rules:${node.index}`, async () => {
      const saved = parseIptablesSave(await inNetns(node.netns, ['iptables-save']));
      await inNetns(node.netns, ['iptables-restore', '-w', '5', '--noflush'], renderServiceRules(services, saved));
    });
  }

  /** Writes the pod's /etc/hosts as seen by processes started in it. A hostNetwork pod shares
   *  the node's file. A pod whose netns is already gone is ignored (removal raced the update). */
  async setPodHosts(pod: PodNet, entries: HostsEntry[]): Promise<void> {
    if (!netnsExists(pod.netns)) return;
    await ensureNetnsEtc(pod.netns);
    await writeNetnsHosts(pod.netns, entries);
  }

  async destroy(): Promise<void> {
    await teardownCluster(this.clusterId);
    this.#nodes.clear();
    this.#hostNetworkPods.clear();
    this.#podKeys.clear();
  }

  #checkNode(node: NodeNet): void {
    const known = this.#nodes.get(node.index);
    if (!known || known.name !== node.name) throw new Error(`unknown node ${JSON.stringify(node.name)} (index ${node.index}) in cluster ${this.clusterId}`);
  }

  /** Runs `fn` after every earlier call with the same key has settled. */
  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#locks.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => {});
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }
}

/** CNI_ARGS as the kubelet's runtime passes them (IgnoreUnknown: host-local reads only IP). */
function cniArgs(pod: PodIdentity, ip?: string): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', pod.uid],
    ['K8S_POD_UID', pod.uid],
    ...(ip ? [['IP', ip] as [string, string]] : []),
  ];
}
