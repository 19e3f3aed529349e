// The cluster's network: a fabric netns with a bridge joining one netns per node; each node has
// a bridge (cni0) joining one netns per pod. Every step converges (checks, `replace`), so
// each call is idempotent and a restarted cluster picks up what is already there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { checkPrivileges } from './check-privileges.ts';
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
  podVeth,
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
 * A bridge gets one because otherwise Linux gives it the lowest MAC among its ports, so
 * deleting a pod could change the gateway's MAC under the other pods' ARP caches and cut them
 * off from everything beyond their node (the CNI bridge plugin pins it for the same reason).
 * A pod gets one because pod IPs are reused: a new pod with a deleted pod's IP and a new
 * random MAC went unreached while the node's and neighbours' ARP entries still named the old
 * MAC (5-10 s of lost SYNs; the CNI bridge plugin sends a gratuitous ARP for this).
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

/** The IPv4 addresses (with prefix) on a device, from `ip -j`. */
async function addressesOf(netns: string, dev: string): Promise<string[]> {
  const out = await mustRun([ipBinary(), '-j', '-4', '-n', netns, 'addr', 'show', 'dev', dev]);
  const links = JSON.parse(out || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
}

export class ClusterNetwork {
  readonly clusterId: string;
  readonly #logger: Logger;
  readonly #nodes = new Map<number, NodeNet>();
  readonly #hostNetworkPods = new Set<string>(); // uids of hostNetwork pods: they own no netns
  readonly #podKeys = new Map<string, string>(); // pod key (netns suffix) -> uid, to catch collisions
  readonly #locks = new Map<string, Promise<unknown>>();

  private constructor(clusterId: string, logger: Logger) {
    this.clusterId = clusterId;
    this.#logger = logger;
  }

  /** Checks privileges and creates the fabric (or reuses the one left by an earlier run). */
  static async create(opts: { dataDir: string; logger?: Logger }): Promise<ClusterNetwork> {
    await checkPrivileges();
    const id = clusterIdFor(opts.dataDir);
    const logger = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'cluster-network', clusterId: id });
    const net = new ClusterNetwork(id, logger);
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

  async addPod(node: NodeNet, pod: { uid: string; ip: string; hostNetwork?: boolean }): Promise<PodNet> {
    this.#checkNode(node);
    if (!pod.uid) throw new TypeError('pod uid is empty');
    if (pod.hostNetwork) {
      this.#hostNetworkPods.add(pod.uid);
      return { netns: node.netns, netnsPath: netnsPath(node.netns), ip: node.ip, node, hostNetwork: true };
    }
    checkPodIp(pod.ip, node.podCidr);
    const key = podKey(pod.uid);
    const owner = this.#podKeys.get(key);
    if (owner !== undefined && owner !== pod.uid)
      throw new Error(`pod uid ${pod.uid} collides with pod ${owner} on netns name ${podNetns(this.clusterId, pod.uid)}`);
    this.#podKeys.set(key, pod.uid);
    return this.#serial(`pod:${pod.uid}`, async () => {
      const netns = podNetns(this.clusterId, pod.uid);
      const veth = podVeth(pod.uid);
      await ensureNetnsWithLoopback(netns);
      if (!(await linkExists(netns, 'eth0'))) {
        await runCommand([ipBinary(), '-n', node.netns, 'link', 'del', veth]);
        await ip('-n', node.netns, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      }
      await ip('-n', node.netns, 'link', 'set', veth, 'master', 'cni0');
      // Hairpin lets a pod reach itself through a ClusterIP (the reply goes back out its port).
      await ip('-n', node.netns, 'link', 'set', veth, 'type', 'bridge_slave', 'hairpin', 'on');
      await ip('-n', node.netns, 'link', 'set', veth, 'up');
      const want = `${pod.ip}/24`;
      const have = await addressesOf(netns, 'eth0');
      if (have.length !== 1 || have[0] !== want) {
        await ip('-n', netns, 'addr', 'flush', 'dev', 'eth0');
        await ip('-n', netns, 'addr', 'add', want, 'dev', 'eth0');
      }
      await ip('-n', netns, 'link', 'set', 'eth0', 'address', macFor(pod.ip), 'up');
      await ip('-n', netns, 'route', 'replace', 'default', 'via', node.gateway, 'dev', 'eth0');
      await ensureNetnsEtc(netns);
      this.#logger.debug({ uid: pod.uid, netns, ip: pod.ip, node: node.name }, 'pod network ready');
      return { netns, netnsPath: netnsPath(netns), ip: pod.ip, node, hostNetwork: false };
    });
  }

  /** Kills the pod's processes and deletes its netns, veth and /etc/netns dir. A hostNetwork
   *  pod shares the node's netns, so nothing is killed or deleted for it: its processes are
   *  the kubelet's to stop. Idempotent. */
  async removePod(node: NodeNet, podUid: string): Promise<void> {
    this.#checkNode(node);
    if (this.#hostNetworkPods.delete(podUid)) return;
    return this.#serial(`pod:${podUid}`, async () => {
      const netns = podNetns(this.clusterId, podUid);
      // Delete the veth first: if something still holds the netns open (a socket a node proxy
      // created in it), deleting the name alone would leave the pod wired to the bridge.
      if (await linkExists(node.netns, podVeth(podUid))) await ip('-n', node.netns, 'link', 'del', podVeth(podUid));
      await deleteNetns(netns);
      await removeNetnsEtc(netns);
      if (this.#podKeys.get(podKey(podUid)) === podUid) this.#podKeys.delete(podKey(podUid));
      this.#logger.debug({ uid: podUid, netns }, 'pod network removed');
    });
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
