// Real namespaces, veths, bridges and iptables (needs root). Three pods on two nodes, each
// running a tiny TCP server that answers its own name.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClusterNetwork,
  checkPrivileges,
  execInNetns,
  listNetns,
  netnsPrefix,
  nodeCniDirs,
  podNetns,
  spawnInNetns,
  teardownCluster,
  type NodeNet,
  type PodNet,
  type ServiceRule,
} from '../../src/runtime/index.ts';
import { macFor } from '../../src/runtime/cluster-network.ts';

const node = process.execPath;
const serverJs = `
const name = process.argv[1];
require('node:net').createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.end(name + '\\n'); })
  .listen(8080, '0.0.0.0');`;
// Connects `count` times in a row; prints one line per answer, or the error code.
const clientJs = `
const [host, port, count] = process.argv.slice(1);
const net = require('node:net');
function once() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port), timeout: 3000 });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data.trim()));
    s.on('timeout', () => { s.destroy(); resolve('ETIMEDOUT'); });
    s.on('error', (e) => resolve(e.code));
  });
}
(async () => { for (let i = 0; i < Number(count); i++) console.log(await once()); })();`;
// Resolves a name again and again until it resolves (proves an already-running process sees
// a hosts file updated in place).
const waitForNameJs = `
const name = process.argv[1];
const deadline = Date.now() + 5000;
(function poll() {
  require('node:dns').lookup(name, { family: 4 }, (err, addr) => {
    if (!err) { console.log(addr); return; }
    if (Date.now() > deadline) { console.log('gave up'); return; }
    setTimeout(poll, 50);
  });
})();`;

const identity = (uid: string): { uid: string; namespace: string; name: string } => ({ uid, namespace: 'test', name: `pod-${uid.slice(0, 8)}` });
const podAt = (uid: string, preferredIp?: string) => ({ ...identity(uid), ...(preferredIp ? { preferredIp } : {}) });

function ask(netns: string, host: string): Promise<string[]> {
  return askPort(netns, host, 8080);
}

async function askPort(netns: string, host: string, port: number, count = 1): Promise<string[]> {
  const r = await execInNetns(netns, [node, '-e', clientJs, host, String(port), String(count)], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

function hostIptables(): string {
  // Drop the "# Generated ... on <date>" lines: only the rules matter.
  return execFileSync('iptables-save', { encoding: 'utf8' })
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

describe('ClusterNetwork (root, real network namespaces)', function () {
  this.timeout(60_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-runtime-'));
  let net: ClusterNetwork;
  let node1: NodeNet;
  let node2: NodeNet;
  const pods: Record<'a' | 'b' | 'c', PodNet> = {} as Record<'a' | 'b' | 'c', PodNet>;
  const uids = { a: randomUUID(), b: randomUUID(), c: randomUUID() };
  const servers: ChildProcess[] = [];
  let iptablesBefore: string;

  before(async () => {
    await checkPrivileges();
    iptablesBefore = hostIptables();
    net = await ClusterNetwork.create({ dataDir });
    node1 = await net.addNode(1, 'node1');
    node2 = await net.addNode(2, 'node2');
    pods.a = await net.addPod(node1, podAt(uids.a, '10.244.1.2'));
    pods.b = await net.addPod(node1, podAt(uids.b, '10.244.1.3'));
    pods.c = await net.addPod(node2, podAt(uids.c, '10.244.2.2'));
    for (const name of ['a', 'b', 'c'] as const) {
      servers.push(spawnInNetns(pods[name].netns, [node, '-e', serverJs, name], { logFile: join(dataDir, 'pods', `${name}.log`) }));
    }
    // Bounded wait until every server answers on its own loopback.
    const deadline = Date.now() + 10_000;
    for (const name of ['a', 'b', 'c'] as const) {
      for (;;) {
        const [answer] = await askPort(pods[name].netns, '127.0.0.1', 8080);
        if (answer === name) break;
        if (Date.now() > deadline) throw new Error(`server in pod ${name} did not start: ${answer}`);
        await sleep(50);
      }
    }
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await teardownCluster(net?.clusterId ?? '000000').catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('pod networking', () => {
    it('names every netns after the cluster and gives pods their address and gateway', async () => {
      const names = (await listNetns()).filter((n) => n.startsWith(netnsPrefix(net.clusterId)));
      assert.deepEqual(names.sort(), [`lc${net.clusterId}-fabric`, node1.netns, node2.netns, pods.a.netns, pods.b.netns, pods.c.netns].sort());
      assert.deepEqual(
        net.nodes().map((n) => n.name),
        ['node1', 'node2'],
      );
      const route = await execInNetns(pods.c.netns, ['ip', 'route', 'show', 'default']);
      assert.match(route.stdout, /default via 10\.244\.2\.1 dev eth0/);
      assert.equal(pods.a.netnsPath, `/run/netns/${pods.a.netns}`);
    });

    it('connects a pod to another pod on the same node', async () => {
      assert.deepEqual(await ask(pods.a.netns, pods.b.ip), ['b']);
    });

    it('connects pods across nodes in both directions', async () => {
      assert.deepEqual(await ask(pods.a.netns, pods.c.ip), ['c']);
      assert.deepEqual(await ask(pods.c.netns, pods.b.ip), ['b']);
    });

    it('connects a node to a pod on itself and on the other node', async () => {
      assert.deepEqual(await ask(node2.netns, pods.a.ip), ['a']);
      assert.deepEqual(await ask(node2.netns, pods.c.ip), ['c']);
    });

    it('is idempotent: adding the same node and pod again changes nothing', async () => {
      assert.deepEqual(await net.addNode(1, 'node1'), node1);
      assert.deepEqual(await net.addPod(node1, podAt(uids.a, '10.244.1.2')), pods.a);
      assert.deepEqual(await ask(pods.c.netns, pods.a.ip), ['a']);
      await assert.rejects(net.addNode(1, 'other'), /node index 1 is already used by node "node1"/);
      // An address outside the node's range (a pod that moved nodes) gives way to a free one.
      const moved = randomUUID();
      const elsewhere = await net.addPod(node1, podAt(moved, '10.244.2.9'));
      assert.match(elsewhere.ip, /^10\.244\.1\.\d+$/);
      await net.removePod(node1, identity(moved));
    });
    it('is picked up again by a new ClusterNetwork on the same data dir (a restart)', async () => {
      await net.setPodHosts(pods.a, [{ ip: '10.96.0.10', names: ['kept'] }]);
      const again = await ClusterNetwork.create({ dataDir });
      assert.equal(again.clusterId, net.clusterId);
      assert.deepEqual(await again.addNode(2, 'node2'), node2);
      assert.deepEqual(await again.addNode(1, 'node1'), node1);
      assert.deepEqual(await again.addPod(node1, podAt(uids.a, '10.244.1.2')), pods.a);
      assert.deepEqual(await ask(pods.c.netns, pods.a.ip), ['a'], 'the running server kept its netns');
      const r = await execInNetns(pods.a.netns, ['getent', 'hosts', 'kept']);
      assert.match(r.stdout, /^10\.96\.0\.10\s+kept/, 'hosts entries survive');
    });
  });

  describe('service rules', () => {
    const web: ServiceRule = {
      clusterIp: '10.96.0.10',
      port: 80,
      protocol: 'TCP',
      endpoints: [
        { ip: '10.244.1.2', port: 8080 },
        { ip: '10.244.1.3', port: 8080 },
      ],
    };
    const empty: ServiceRule = { clusterIp: '10.96.0.11', port: 80, protocol: 'TCP', endpoints: [] };

    before(async () => {
      for (const n of [node1, node2]) await net.setServiceRules(n, [web, empty]);
    });

    it('DNATs a ClusterIP to both endpoints from a pod on the other node', async () => {
      const answers = await askPort(pods.c.netns, web.clusterIp, 80, 24);
      assert.deepEqual([...new Set(answers)].sort(), ['a', 'b']);
    });

    it('DNATs from a pod on the endpoints node, including back to itself (hairpin)', async () => {
      const answers = await askPort(pods.a.netns, web.clusterIp, 80, 24);
      assert.deepEqual([...new Set(answers)].sort(), ['a', 'b']);
    });

    it('DNATs from the node itself', async () => {
      const answers = await askPort(node2.netns, web.clusterIp, 80, 24);
      assert.deepEqual([...new Set(answers)].sort(), ['a', 'b']);
    });

    it('refuses connections to a service without endpoints at once', async () => {
      assert.deepEqual(await askPort(pods.c.netns, empty.clusterIp, 80), ['ECONNREFUSED']);
    });

    it('replaces the rules as a whole and removes the chains of a deleted service', async () => {
      const moved: ServiceRule = { ...web, endpoints: [{ ip: '10.244.2.2', port: 8080 }] };
      await net.setServiceRules(node1, [moved]);
      assert.deepEqual([...new Set(await askPort(pods.a.netns, web.clusterIp, 80, 5))], ['c']);
      await net.setServiceRules(node1, []);
      const saved = (await execInNetns(node1.netns, ['iptables-save'])).stdout;
      assert.doesNotMatch(saved, /LC-SVC-|LC-SEP-/);
      assert.equal(saved.match(/-A PREROUTING -j LC-SERVICES/g)?.length, 1);
    });

    it('keeps the current rules when a batch is invalid', async () => {
      await net.setServiceRules(node2, [web]);
      await assert.rejects(net.setServiceRules(node2, [{ ...web, clusterIp: 'nope' }]), /invalid cluster ip: "nope"/);
      assert.deepEqual([...new Set(await askPort(pods.c.netns, web.clusterIp, 80, 12))].sort(), ['a', 'b']);
    });
  });

  describe('pod hosts', () => {
    it('resolves names from the pod hosts file and nothing else', async () => {
      await net.setPodHosts(pods.c, [{ ip: '10.96.0.10', names: ['web.shop.svc.cluster.local', 'web'] }]);
      const r = await execInNetns(pods.c.netns, ['getent', 'hosts', 'web.shop.svc.cluster.local']);
      assert.match(r.stdout, /^10\.96\.0\.10\s+web\.shop\.svc\.cluster\.local web/);
      const other = await execInNetns(pods.a.netns, ['getent', 'hosts', 'web']);
      assert.notEqual(other.code, 0, 'another pod does not see these entries');
    });

    it('updates the file in place, so a process already running sees new names', async () => {
      const hostsFile = `/etc/netns/${pods.c.netns}/hosts`;
      const inode = statSync(hostsFile).ino;
      const waiter = execInNetns(pods.c.netns, [node, '-e', "process.stdout.write('ready\\n');" + waitForNameJs, 'late.shop'], { timeoutMs: 10_000 });
      await sleep(300); // let it start and fail a few lookups first
      await net.setPodHosts(pods.c, [{ ip: '10.96.0.12', names: ['late.shop'] }]);
      const r = await waiter;
      assert.equal(r.stdout, 'ready\n10.96.0.12\n');
      assert.equal(statSync(hostsFile).ino, inode);
    });

    it('rejects a bad entry and keeps the previous file', async () => {
      await assert.rejects(net.setPodHosts(pods.c, [{ ip: '10.96.0.13', names: ['bad name'] }]), /invalid name: "bad name"/);
      const r = await execInNetns(pods.c.netns, ['getent', 'hosts', 'late.shop']);
      assert.match(r.stdout, /^10\.96\.0\.12/);
    });
  });

  describe('removal and teardown', () => {
    it('removePod kills the processes inside and deletes netns, veth and hosts dir', async () => {
      const server = servers[1]!; // pod b
      const exited = new Promise((resolve) => server.once('exit', (_code, signal) => resolve(signal)));
      await net.removePod(node1, identity(uids.b));
      assert.equal(await exited, 'SIGTERM');
      assert.equal(existsSync(pods.b.netnsPath), false);
      assert.equal(existsSync(`/etc/netns/${pods.b.netns}`), false);
      const veths = async (): Promise<number> =>
        ((await execInNetns(node1.netns, ['ip', '-o', 'link', 'show', 'type', 'veth'])).stdout.match(/master cni0/g) ?? []).length;
      assert.equal(await veths(), 1, 'only pod a is left on cni0');
      await net.removePod(node1, identity(uids.b)); // again: fine
      assert.deepEqual(await ask(pods.c.netns, pods.a.ip), ['a']);
    });

    it('keeps the gateway MAC when a pod leaves, so its neighbours still reach other nodes', async () => {
      // Regression: an unpinned bridge takes its lowest port's MAC, which changed under the
      // other pods' ARP caches when a pod was removed.
      const mac = async (): Promise<string> => (await execInNetns(node1.netns, ['cat', '/sys/class/net/cni0/address'])).stdout.trim();
      assert.equal(await mac(), macFor(node1.gateway));
      const uid = randomUUID();
      await net.addPod(node1, podAt(uid));
      await net.removePod(node1, identity(uid));
      assert.equal(await mac(), macFor(node1.gateway));
      assert.deepEqual(await ask(pods.a.netns, pods.c.ip), ['c']);
    });

    it('undoes a failed ADD whole: no netns, no cached result, no address held (a pod deleted before its retry leaks nothing)', async () => {
      const dirs = nodeCniDirs(dataDir, 'node1');
      const conflist = join(dirs.confDir, '10-local-cluster.conflist');
      const original = readFileSync(conflist, 'utf8');
      const list = JSON.parse(original);
      writeFileSync(conflist, JSON.stringify({ ...list, plugins: [...list.plugins, { type: 'no-such-plugin' }] }));
      const uid = randomUUID();
      try {
        await assert.rejects(net.addPod(node1, podAt(uid)), /CNI plugin no-such-plugin not found/);
      } finally {
        writeFileSync(conflist, original);
      }
      assert.deepEqual(
        (await listNetns()).filter((n) => n === podNetns(net.clusterId, uid)),
        [],
      );
      assert.deepEqual(
        readdirSync(dirs.cacheDir).filter((f) => f.includes(uid)),
        [],
      );
      const held = readdirSync(join(dirs.ipamDir, 'local-cluster')).filter(
        (f) => /^\d/.test(f) && readFileSync(join(dirs.ipamDir, 'local-cluster', f), 'utf8').includes(uid),
      );
      assert.deepEqual(held, [], 'host-local released the address');
    });

    it('removePod SIGKILLs a process that ignores SIGTERM after the grace period', async () => {
      const uid = randomUUID();
      const pod = await net.addPod(node2, podAt(uid));
      const stubborn = spawnInNetns(pod.netns, [node, '-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('up')"], {
        logFile: join(dataDir, 'pods', 'stubborn.log'),
      });
      servers.push(stubborn);
      const exited = new Promise((resolve) => stubborn.once('exit', (_code, signal) => resolve(signal)));
      const deadline = Date.now() + 5000;
      while (!existsSync(join(dataDir, 'pods', 'stubborn.log')) || statSync(join(dataDir, 'pods', 'stubborn.log')).size === 0) {
        if (Date.now() > deadline) throw new Error('stubborn process did not start');
        await sleep(20);
      }
      await net.removePod(node2, identity(uid));
      assert.equal(await exited, 'SIGKILL');
      assert.equal(existsSync(pod.netnsPath), false);
    });

    it('runs a hostNetwork pod in the node netns with the node address', async () => {
      const hostPod = await net.addPod(node2, { ...identity(randomUUID()), hostNetwork: true });
      assert.equal(hostPod.netns, node2.netns);
      assert.equal(hostPod.ip, '10.250.0.2');
      assert.equal(hostPod.hostNetwork, true);
    });

    it('teardownCluster removes every netns, /etc/netns dir and rule, and can run twice', async () => {
      const prefix = netnsPrefix(net.clusterId);
      await net.destroy();
      assert.deepEqual(
        (await listNetns()).filter((n) => n.startsWith(prefix)),
        [],
      );
      assert.deepEqual(existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(prefix)) : [], []);
      assert.equal(hostIptables(), iptablesBefore);
      await teardownCluster(net.clusterId);
      assert.deepEqual(net.nodes(), []);
    });
  });
});
