// The CNI agent's API path, which the local cluster's pods cannot take (they do not reach the API
// server): its reads of pods with the RBAC of deploy/daemonset/istio-cni-node.yaml, through the
// embedded API server (the real wire protocol), and the reconcile at start that finds a pod the
// agent never heard of by its IP among real named netns (root), and drops a recorded pod the
// API server no longer has.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { mergePatch } from '@ambient/api/kube';
import { CniAgent, podApi } from '@ambient/cni';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { applyManifests, readManifests } from '@ambient/local-cluster/manifests';

const repo = resolve(import.meta.dirname, '../..');
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

describe('CNI agent with API access (embedded API server, istio-cni RBAC, real netns)', function () {
  this.timeout(60_000);
  const prefix = `ambapi-${randomBytes(3).toString('hex')}`;
  let dir: string;
  let api: ApiServer;
  let admin: CoreV1Api;
  let agentKc: KubeConfig;
  const uids: Record<string, string> = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cni-api-'));
    api = await startApiServer({ dataDir: join(dir, 'api'), port: 0, logger });
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    admin = kc.makeApiClient(CoreV1Api);
    for (const ns of ['istio-system', 'shop']) await admin.createNamespace({ body: { metadata: { name: ns } } });
    // The agent's ServiceAccount and RBAC exactly as shipped.
    const shipped = readManifests(join(repo, 'deploy/daemonset/istio-cni-node.yaml')).filter((o) => o.kind !== 'DaemonSet');
    await applyManifests(kc, shipped, 'test');
    const pods: [string, string, { hostNetwork?: boolean; ip?: string }][] = [
      ['web', 'node-1', { ip: '10.244.7.2' }],
      ['gone-later', 'node-1', { ip: '10.244.7.3' }],
      ['hostnet', 'node-1', { hostNetwork: true, ip: '10.250.0.1' }],
      ['elsewhere', 'node-2', { ip: '10.244.8.2' }],
    ];
    for (const [name, node, o] of pods) {
      const p = await admin.createNamespacedPod({
        namespace: 'shop',
        body: {
          metadata: { name, labels: { app: name } },
          spec: { nodeName: node, hostNetwork: o.hostNetwork ?? false, serviceAccountName: 'default', containers: [{ name: 'c', image: 'x' }] },
        },
      });
      uids[name] = p.metadata!.uid!;
      if (o.ip) await admin.patchNamespacedPodStatus({ name, namespace: 'shop', body: { status: { phase: 'Running', podIP: o.ip } } }, mergePatch);
    }
    const token = (await admin.createNamespacedServiceAccountToken({ name: 'istio-cni', namespace: 'istio-system', body: { spec: { audiences: [] } } })).status!
      .token!;
    const c = kc.getCurrentCluster()!;
    agentKc = new KubeConfig();
    agentKc.loadFromOptions({
      clusters: [{ name: 'c', server: c.server, caData: c.caData }],
      users: [{ name: 'istio-cni', token }],
      contexts: [{ name: 'c', cluster: 'c', user: 'istio-cni' }],
      currentContext: 'c',
    });
    execFileSync('ip', ['netns', 'add', `${prefix}-web`]);
    execFileSync('ip', ['-n', `${prefix}-web`, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0']);
    execFileSync('ip', ['-n', `${prefix}-web`, 'addr', 'add', '10.244.7.2/24', 'dev', 'eth0']);
  });

  after(async () => {
    spawnSync('ip', ['netns', 'delete', `${prefix}-web`], { stdio: 'ignore' });
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads the pods of its node and looks pods up with the shipped RBAC alone', async () => {
    const pods = podApi(agentKc, 'node-1');
    const mine = await pods.nodePods();
    assert.deepEqual(mine.map((p) => [p.name, p.ip, p.hostNetwork]).sort(), [
      ['gone-later', '10.244.7.3', false],
      ['hostnet', '10.250.0.1', true],
      ['web', '10.244.7.2', false],
    ]);
    assert.deepEqual(await pods.lookup('shop', 'web'), { uid: uids.web, labels: { app: 'web' }, annotations: {}, serviceAccount: 'default' });
    assert.equal(await pods.lookup('shop', 'missing'), null);
    // And nothing more: the agent cannot change pods.
    await assert.rejects(agentKc.makeApiClient(CoreV1Api).deleteNamespacedPod({ name: 'web', namespace: 'shop' }), /403|forbidden/i);
  });

  it('at start, finds a pod it never heard of by its IP among the named netns, and drops a recorded pod the API server no longer has', async () => {
    const runDir = join(dir, 'run');
    const confDir = join(dir, 'net.d');
    const binDir = join(dir, 'bin');
    for (const d of [runDir, confDir, binDir]) mkdirSync(d, { recursive: true });
    writeFileSync(join(confDir, '10-x.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'bridge' }] }));
    writeFileSync(join(dir, 'plugin'), '#!/bin/sh\n');
    // Recorded by an earlier run, deleted from the API server while the agent was away.
    const stale = { uid: randomUUID(), name: 'stale', namespace: 'shop', ip: '10.244.7.2', netns: `${prefix}-web`, netnsPath: `/run/netns/${prefix}-web` };
    writeFileSync(join(runDir, 'pods.json'), JSON.stringify({ version: 1, attachments: [{ containerId: 'old', ifName: 'eth0', pod: stale }] }));
    const agent = await CniAgent.start({
      nodeName: 'node-1',
      confDir,
      binDir,
      runDir,
      nodeAgentSocket: join(dir, 'node-agent.sock'),
      netnsDir: '/run/netns',
      pluginBinary: join(dir, 'plugin'),
      api: podApi(agentKc, 'node-1'),
      logger,
    });
    try {
      assert.deepEqual(
        agent.server.pods().map((p) => [p.name, p.uid, p.netnsPath, p.serviceAccount]),
        [['web', uids.web, `/run/netns/${prefix}-web`, 'default']],
        'web found in its netns; gone-later has no netns with its IP; hostnet and node-2 pods are not ours; stale dropped',
      );
    } finally {
      await agent.stop();
    }
  });
});
