// The CNI node agent with the real plugin: built from source, installed by the agent into a bin
// dir, and run as a container runtime runs it (CNI_* environment, the conflist entry on stdin).
// ztunnel's view is read from the node-agent socket. The restart test uses real network
// namespaces (root), named ambtest-<random>-*, and removes them.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import type { NodeAgentMessage, PodInfo } from '@ambient/api';
import { CniAgent, type CniAgentOptions } from '../src/agent.ts';
import { chainPlugin, pluginType, primaryConfFile } from '../src/install.ts';
import { reader } from './node-agent-reader.ts';

const cniDir = join(import.meta.dirname, '..');
const primary = { cniVersion: '1.0.0', name: 'k8s-pod-network', plugins: [{ type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local' } }] };
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

interface Dirs {
  root: string;
  confDir: string;
  binDir: string;
  runDir: string;
  cacheDir: string;
  socket: string;
}

function dirs(): Dirs {
  const root = mkdtempSync(join(tmpdir(), 'cni-agent-'));
  const d = {
    root,
    confDir: join(root, 'net.d'),
    binDir: join(root, 'bin'),
    runDir: join(root, 'run'),
    cacheDir: join(root, 'results'),
    socket: join(root, 'ztunnel', 'node-agent.sock'),
  };
  for (const p of [d.confDir, d.binDir, d.cacheDir]) mkdirSync(p, { recursive: true });
  writeFileSync(join(d.confDir, '10-calico.conflist'), JSON.stringify(primary));
  return d;
}

/** Runs the installed plugin as the runtime would for the conflist's last entry (ours). */
function runPlugin(
  d: Dirs,
  command: string,
  a: { containerId: string; netns?: string; args?: string; ip?: string },
): Promise<{ code: number | null; stdout: string }> {
  const list = JSON.parse(readFileSync(primaryConfFile(d.confDir)!, 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  const entry = list.plugins.at(-1)!;
  const prevResult = a.ip
    ? { cniVersion: list.cniVersion, interfaces: [{ name: 'eth0', sandbox: a.netns }], ips: [{ address: `${a.ip}/24`, interface: 0 }] }
    : undefined;
  const stdin = JSON.stringify({ ...entry, cniVersion: list.cniVersion, name: list.name, ...(prevResult ? { prevResult } : {}) });
  const child = spawn(join(d.binDir, pluginType), [], {
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netns ?? '',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: a.args ?? '',
      CNI_PATH: d.binDir,
    },
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout })));
}

const k8sArgs = (p: { namespace: string; name: string; uid: string }): string =>
  `IgnoreUnknown=1;K8S_POD_NAMESPACE=${p.namespace};K8S_POD_NAME=${p.name};K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=${p.uid}`;

/** ztunnel's side of the node-agent socket. */
function subscribe(path: string): { next: () => Promise<NodeAgentMessage>; close: () => void } {
  const socket = connect(path);
  return { next: reader(socket), close: () => socket.destroy() };
}

/** Resolves when `check` holds, re-checked on every change in `dir` (bounded: 5 s). */
function whenDirSettles(dir: string, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const watcher = watch(dir, () => {
      if (!check()) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`condition on ${dir} not met within 5 s`));
    }, 5000);
  });
}

describe('CNI node agent', function () {
  this.timeout(30_000);
  let pluginBinary: string;
  let buildDir: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async function () {
    this.timeout(60_000);
    buildDir = mkdtempSync(join(tmpdir(), 'cni-plugin-'));
    await promisify(execFile)('bash', ['plugin/build.sh', buildDir], { cwd: cniDir });
    pluginBinary = join(buildDir, pluginType);
  });
  after(() => rmSync(buildDir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function startAgent(d: Dirs, extra: Partial<CniAgentOptions> = {}): Promise<CniAgent> {
    const agent = await CniAgent.start({
      nodeName: 'node-1',
      confDir: d.confDir,
      binDir: d.binDir,
      runDir: d.runDir,
      nodeAgentSocket: d.socket,
      netnsDir: join(d.root, 'no-netns'),
      cniCacheDir: d.cacheDir,
      pluginBinary,
      // Long: a repair within a test is the directory watch's doing.
      resyncMs: 600_000,
      logger,
      ...extra,
    });
    cleanups.push(() => agent.stop());
    return agent;
  }

  function tempDirs(): Dirs {
    const d = dirs();
    cleanups.push(() => rmSync(d.root, { recursive: true, force: true }));
    return d;
  }

  describe('install', () => {
    it('installs the plugin and chains it last in the primary conflist; ready once chained', async () => {
      const d = tempDirs();
      const agent = await startAgent(d);
      assert.equal(agent.notReady(), undefined);
      assert.ok(readFileSync(join(d.binDir, pluginType)).equals(readFileSync(pluginBinary)));
      const list = JSON.parse(readFileSync(join(d.confDir, '10-calico.conflist'), 'utf8'));
      assert.deepEqual(list.plugins, [...primary.plugins, { type: pluginType, agent_socket: join(d.runDir, 'plugin.sock') }]);
    });

    it('turns a single-plugin .conf into a .conflist with the plugin chained, and is idempotent', () => {
      const d = tempDirs();
      rmSync(join(d.confDir, '10-calico.conflist'));
      writeFileSync(
        join(d.confDir, '05-flannel.conf'),
        JSON.stringify({ cniVersion: '0.4.0', name: 'cbr0', type: 'flannel', delegate: { isDefaultGateway: true } }),
      );
      const entry = { type: pluginType, agent_socket: '/run/x.sock' };
      assert.equal(chainPlugin(d.confDir, entry), 'added');
      assert.equal(chainPlugin(d.confDir, entry), 'unchanged');
      assert.deepEqual(JSON.parse(readFileSync(join(d.confDir, '05-flannel.conflist'), 'utf8')), {
        cniVersion: '0.4.0',
        name: 'cbr0',
        plugins: [{ type: 'flannel', delegate: { isDefaultGateway: true } }, entry],
      });
    });

    it('waits for a primary CNI config, not ready until then, and chains itself when one appears', async () => {
      const d = tempDirs();
      rmSync(join(d.confDir, '10-calico.conflist'));
      let repairs = 0;
      const agent = await startAgent(d, { onRepair: () => repairs++ });
      assert.match(agent.notReady() ?? '', /not in a primary CNI config/);
      writeFileSync(join(d.confDir, '10-calico.conflist'), JSON.stringify(primary));
      await whenDirSettles(d.confDir, () => agent.notReady() === undefined);
      assert.equal(repairs, 0, 'a first install is no repair');
      assert.equal(chainPlugin(d.confDir, { type: pluginType, agent_socket: join(d.runDir, 'plugin.sock') }), 'unchanged');
    });

    it('puts its entry back when the primary CNI rewrites the conflist, so later pods still reach it', async () => {
      const d = tempDirs();
      let repairs = 0;
      await startAgent(d, { onRepair: () => repairs++ });
      const file = join(d.confDir, '10-calico.conflist');
      // What a primary CNI's installer does on restart: its own file, written whole.
      writeFileSync(file, JSON.stringify({ ...primary, plugins: [{ ...primary.plugins[0], mtu: 1450 }] }));
      await whenDirSettles(d.confDir, () => /ambient-cni/.test(readFileSync(file, 'utf8')));
      const list = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(list.plugins[0].mtu, 1450, 'the primary config is kept as rewritten');
      assert.equal(list.plugins.at(-1).type, pluginType);
      assert.equal(repairs, 1, 'counted (ambient_cni_conflist_repairs_total)');
      const pod = { namespace: 'shop', name: 'after-rewrite', uid: randomUUID() };
      const z = subscribe(d.socket);
      cleanups.push(() => z.close());
      assert.deepEqual(await z.next(), { type: 'snapshot', pods: [] });
      const r = await runPlugin(d, 'ADD', { containerId: 'c1', netns: '/var/run/netns/cni-1', args: k8sArgs(pod), ip: '10.244.0.9' });
      assert.equal(r.code, 0, r.stdout);
      assert.equal(((await z.next()) as { pod: PodInfo }).pod.uid, pod.uid);
    });
  });

  describe('plugin calls', () => {
    it('ADD hands the pod to ztunnel and prints the previous result; DEL takes it away', async () => {
      const d = tempDirs();
      const agent = await startAgent(d);
      const z = subscribe(d.socket);
      cleanups.push(() => z.close());
      assert.deepEqual(await z.next(), { type: 'snapshot', pods: [] });
      const pod = { namespace: 'shop', name: 'web-0', uid: randomUUID() };
      const add = await runPlugin(d, 'ADD', { containerId: 'sandbox-1', netns: '/var/run/netns/cni-1234', args: k8sArgs(pod), ip: '10.244.1.7' });
      assert.equal(add.code, 0, add.stdout);
      assert.deepEqual(JSON.parse(add.stdout), {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/cni-1234' }],
        ips: [{ address: '10.244.1.7/24', interface: 0 }],
      });
      const want: PodInfo = { ...pod, ip: '10.244.1.7', netns: 'cni-1234', netnsPath: '/var/run/netns/cni-1234' };
      assert.deepEqual(await z.next(), { type: 'add', pod: want });
      assert.equal((await runPlugin(d, 'CHECK', { containerId: 'sandbox-1', netns: '/var/run/netns/cni-1234', args: k8sArgs(pod), ip: '10.244.1.7' })).code, 0);
      const del = await runPlugin(d, 'DEL', { containerId: 'sandbox-1', netns: '/var/run/netns/cni-1234', args: k8sArgs(pod) });
      assert.deepEqual(del, { code: 0, stdout: '' });
      assert.deepEqual(await z.next(), { type: 'remove', pod: want });
      assert.deepEqual(agent.state.all(), []);
      assert.equal((await runPlugin(d, 'DEL', { containerId: 'sandbox-1', args: k8sArgs(pod) })).code, 0, 'a second DEL is fine');
    });

    it('refuses an ADD it cannot act on with a CNI error, and passes other pods through', async () => {
      const d = tempDirs();
      const agent = await startAgent(d);
      const unchained = await runPlugin(d, 'ADD', { containerId: 'c1', netns: '/var/run/netns/x', args: k8sArgs({ namespace: 'a', name: 'b', uid: 'u' }) });
      assert.equal(unchained.code, 1);
      assert.match(JSON.parse(unchained.stdout).msg, /must be chained after the plugin that creates the pod interface/);
      const noUid = await runPlugin(d, 'ADD', { containerId: 'c2', netns: '/var/run/netns/x', args: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b', ip: '10.244.1.8' });
      assert.equal(noUid.code, 1);
      assert.equal(JSON.parse(noUid.stdout).code, 4);
      const notAPod = await runPlugin(d, 'ADD', { containerId: 'c3', netns: '/var/run/netns/x', ip: '10.244.1.9' });
      assert.equal(notAPod.code, 0, 'a sandbox that is no Kubernetes pod passes through');
      assert.deepEqual(agent.state.all(), []);
    });

    it('a pod deleted mid-ADD leaves nothing: its DEL waits for the ADD, and a pod the API server no longer has is not recorded', async () => {
      const d = tempDirs();
      let release!: () => void;
      const lookupStarted = Promise.withResolvers<void>();
      const exists = new Map<string, boolean>([['racing', true]]);
      const agent = await startAgent(d, {
        api: {
          lookup: async (_ns, name) => {
            if (name === 'racing') {
              lookupStarted.resolve();
              await new Promise<void>((r) => (release = r));
            }
            return exists.get(name) ? { uid: uids[name as 'racing']!, labels: { app: 'x' }, annotations: {}, serviceAccount: 'sa' } : null;
          },
          nodePods: async () => [],
        },
      });
      const uids: Record<string, string> = { racing: randomUUID(), gone: randomUUID() };
      const racing = { namespace: 'shop', name: 'racing', uid: uids.racing! };
      const add = runPlugin(d, 'ADD', { containerId: 'sb-racing', netns: '/var/run/netns/cni-r', args: k8sArgs(racing), ip: '10.244.1.20' });
      await lookupStarted.promise;
      // The pod is deleted while its ADD is still in the agent (the API server still had it when
      // the agent asked): the runtime's DEL comes in and must not overtake the ADD.
      const del = runPlugin(d, 'DEL', { containerId: 'sb-racing', netns: '/var/run/netns/cni-r', args: k8sArgs(racing) });
      await new Promise((r) => setTimeout(r, 100)); // the DEL is in the agent's hands before the ADD goes on
      release();
      assert.equal((await add).code, 0);
      assert.equal((await del).code, 0);
      const gone = await runPlugin(d, 'ADD', {
        containerId: 'sb-gone',
        netns: '/var/run/netns/cni-g',
        args: k8sArgs({ namespace: 'shop', name: 'gone', uid: uids.gone! }),
        ip: '10.244.1.21',
      });
      assert.equal(gone.code, 0, 'the ADD succeeds: the runtime tears the sandbox down itself');
      assert.deepEqual(agent.state.all(), []);
      assert.deepEqual(agent.server.pods(), []);
      assert.deepEqual(JSON.parse(readFileSync(join(d.runDir, 'pods.json'), 'utf8')).attachments, []);
    });
  });

  describe('restart (root, real network namespaces)', () => {
    const prefix = `ambtest-${randomBytes(3).toString('hex')}`;
    const netns = (n: string): string => `/run/netns/${prefix}-${n}`;
    const addNetns = (n: string, ip: string): void => {
      execFileSync('ip', ['netns', 'add', `${prefix}-${n}`]);
      execFileSync('ip', ['-n', `${prefix}-${n}`, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
      execFileSync('ip', ['-n', `${prefix}-${n}`, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    };
    after(() => {
      for (const n of ['kept', 'deleted', 'early']) spawnSync('ip', ['netns', 'delete', `${prefix}-${n}`], { stdio: 'ignore' });
    });

    it('a restarted agent serves the pods it had, drops those whose netns is gone, and finds pods attached before it in the CNI cache', async () => {
      const d = tempDirs();
      addNetns('kept', '10.244.3.2');
      addNetns('deleted', '10.244.3.3');
      addNetns('early', '10.244.3.4');
      const kept = { namespace: 'shop', name: 'kept', uid: randomUUID() };
      const deleted = { namespace: 'shop', name: 'deleted', uid: randomUUID() };
      const first = await startAgent(d, { netnsDir: '/run/netns' });
      assert.equal((await runPlugin(d, 'ADD', { containerId: 'sb-kept', netns: netns('kept'), args: k8sArgs(kept), ip: '10.244.3.2' })).code, 0);
      assert.equal((await runPlugin(d, 'ADD', { containerId: 'sb-deleted', netns: netns('deleted'), args: k8sArgs(deleted), ip: '10.244.3.3' })).code, 0);
      await first.stop();
      // While the agent is away: one pod goes (its DEL is lost), and one is attached by a
      // runtime whose conflist did not have the plugin yet; the runtime's cache records it.
      execFileSync('ip', ['netns', 'delete', `${prefix}-deleted`]);
      const early = { namespace: 'shop', name: 'early', uid: randomUUID() };
      writeFileSync(
        join(d.cacheDir, 'k8s-pod-network-sb-early-eth0'),
        JSON.stringify({
          kind: 'cniCacheV1',
          containerId: 'sb-early',
          ifName: 'eth0',
          networkName: 'k8s-pod-network',
          cniArgs: Object.entries({ IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'early', K8S_POD_UID: early.uid }),
          result: { cniVersion: '1.0.0', ips: [{ address: '10.244.3.4/24' }] },
        }),
      );
      writeFileSync(join(d.cacheDir, 'garbage'), 'not json');
      const second = await startAgent(d, { netnsDir: '/run/netns' });
      const z = subscribe(d.socket);
      cleanups.push(() => z.close());
      const snapshot = (await z.next()) as { type: 'snapshot'; pods: PodInfo[] };
      assert.equal(snapshot.type, 'snapshot');
      assert.deepEqual(snapshot.pods.map((p) => [p.name, p.netnsPath]).sort(), [
        ['early', netns('early')],
        ['kept', netns('kept')],
      ]);
      // The early pod is known by its container id: the runtime's DEL finds it.
      assert.equal((await runPlugin(d, 'DEL', { containerId: 'sb-early', args: k8sArgs(early) })).code, 0);
      assert.deepEqual(
        second.state.all().map((a) => a.pod.name),
        ['kept'],
      );
    });
  });
});
