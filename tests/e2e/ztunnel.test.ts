// ztunnel end to end on the local cluster (real namespaces, iptables, TLS): istiod-lite on the
// host, ztunnel as a hostNetwork DaemonSet, unmodified clients in pods. Certificates live 20 s
// here, so everything below also runs across certificate rotations.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { mergePatch } from '@ambient/api/kube';
import { startCluster, type Cluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess } from '@ambient/local-cluster/mesh';
import { execInNetns, nodeNetns, podNetns } from '@ambient/local-cluster/runtime';
import { captureFabric, until as poll } from '@ambient/tests';

const repo = resolve(import.meta.dirname, '../..');
const echo = join(repo, 'examples/echo/echo.ts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls with this file's default bound. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> => poll(what, fn, timeoutMs, 200);

const container = (name: string, port: number) => ({
  name,
  image: 'ambient/echo:local',
  command: [process.execPath, echo, 'serve', '--port', String(port)],
  ports: [{ name: 'http', containerPort: port }],
  env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
});
const manifests = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mesh' } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } },
  ...['server', 'client', 'other'].map((sa) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: 'mesh' } })),
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'server', namespace: 'mesh' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'server' } },
      template: { metadata: { labels: { app: 'server' } }, spec: { serviceAccountName: 'server', containers: [container('server', 8080)] } },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'server', namespace: 'mesh' },
    spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client', namespace: 'mesh', labels: { app: 'client' } },
    spec: { nodeName: 'node-1', serviceAccountName: 'client', containers: [container('client', 9000)] },
  },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'other', namespace: 'mesh', labels: { app: 'other' } },
    spec: { nodeName: 'node-1', serviceAccountName: 'other', containers: [container('other', 9000)] },
  },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'outsider', namespace: 'plain', labels: { app: 'outsider' } },
    spec: { nodeName: 'node-1', containers: [container('outsider', 9000)] },
  },
];

describe('ztunnel on the local cluster (2 nodes, real namespaces)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let cluster: Cluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let target: V1Pod; // a server pod on node-2

  const pod = async (namespace: string, name: string): Promise<V1Pod> => core.readNamespacedPod({ name, namespace });
  const netnsOf = (p: V1Pod): string => podNetns(cluster.network.clusterId, p.metadata!.uid!);
  /** An unmodified client: the sample app's `call`, run inside the pod's netns. */
  const call = async (from: V1Pod, url: string, count = 1): Promise<{ ok: boolean; replies: any[]; output: string }> => {
    const r = await execInNetns(
      netnsOf(from),
      [process.execPath, echo, 'call', url, '--count', String(count), '--timeout', url.includes('/delay/') ? '30000' : '3000'],
      { timeoutMs: 40_000 },
    );
    const replies = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return { ok: r.code === 0, replies, output: r.stdout + r.stderr };
  };
  const fromNode = async (node: number, code: string): Promise<string> =>
    (await execInNetns(nodeNetns(cluster.network.clusterId, node), [process.execPath, '-e', code], { timeoutMs: 10_000 })).stdout;
  const configDump = async (node: number): Promise<any> =>
    JSON.parse(await fromNode(node, "fetch('http://127.0.0.1:15000/config_dump').then(r => r.text()).then(t => process.stdout.write(t))"));
  const metrics = (node: number): Promise<string> =>
    fromNode(node, "fetch('http://127.0.0.1:15020/metrics').then(r => r.text()).then(t => process.stdout.write(t))");
  const capturedUids = async (): Promise<string[]> => [...(await configDump(1)).captured, ...(await configDump(2)).captured].map((c: any) => c.uid);
  const policy = (name: string, spec: object) =>
    custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'mesh',
      plural: 'authorizationpolicies',
      body: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name }, spec },
    });
  const deletePolicy = (plural: string, name: string) =>
    custom.deleteNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'mesh', plural, name });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ztunnel-e2e-'));
    cluster = await startCluster({ dataDir, nodes: 2, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    await applyManifests(cluster.kubeConfig, manifests as never, 'e2e');
    await deployZtunnel(cluster, { certTtlSeconds: 20 });
    await until('all pods running', async () => {
      const all = [...(await core.listNamespacedPod({ namespace: 'mesh' })).items, ...(await core.listNamespacedPod({ namespace: 'plain' })).items];
      return all.length === 5 && all.every((p) => p.status?.phase === 'Running' && p.status.podIP);
    });
    const servers = (await core.listNamespacedPod({ namespace: 'mesh', labelSelector: 'app=server' })).items;
    // The pods pinned to node-1 make the scheduler put the servers on node-2: calls cross nodes.
    target = servers.find((p) => p.spec?.nodeName === 'node-2')!;
    assert.ok(target, `no server pod on node-2: ${servers.map((p) => p.spec?.nodeName)}`);
  });

  after(async () => {
    await cluster?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('captures every pod of a namespace once it is labelled istio.io/dataplane-mode=ambient', async () => {
    await core.patchNamespace({ name: 'mesh', body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
    const mesh = (await core.listNamespacedPod({ namespace: 'mesh' })).items.map((p) => p.metadata!.uid!);
    await until('all mesh pods captured', async () => {
      const captured = await capturedUids();
      return mesh.every((uid) => captured.includes(uid)) && captured.length === mesh.length;
    });
  });

  it('carries a cross-node call over mTLS only: no plaintext on the wire between the nodes', async () => {
    const client = await pod('mesh', 'client');
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const capture = await captureFabric(cluster, dataDir, () => call(client, `http://${target.status!.podIP}:8080/${marker}`));
    const result = capture.result;
    assert.ok(result.ok, result.output);
    assert.equal(result.replies[0].body.pod, target.metadata!.name);
    assert.equal(result.replies[0].body.url, `/${marker}`, 'the app got the request unmodified');
    assert.ok(
      capture.wire.length > 1000,
      `the capture saw the connection (${capture.wire.length} bytes captured; client ${client.status?.podIP} on ${client.spec?.nodeName}, target ${target.status?.podIP} on ${target.spec?.nodeName}; tcpdump: ${capture.log})`,
    );
    assert.equal(capture.wire.includes(marker), false, 'the request path must not appear in clear between the nodes');
    const packets = capture.packets;
    assert.ok((await packets('tcp port 15008')) > 0, 'traffic between the nodes went to port 15008 (HBONE)');
    assert.equal(await packets('tcp port 8080'), 0, 'nothing went to the app port between the nodes');
  });

  it('reaches the Service by name through ztunnel', async () => {
    const r = await call(await pod('mesh', 'client'), 'http://server.mesh.svc.cluster.local/', 6);
    assert.ok(r.ok, r.output);
    assert.equal(r.replies.length, 6);
  });

  it('reports the call in Istio metrics with source and destination principals', async () => {
    const text = await metrics(target.spec!.nodeName === 'node-2' ? 2 : 1);
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('istio_tcp_connections_opened_total{') &&
          l.includes('reporter="destination"') &&
          l.includes('source_principal="spiffe://cluster.local/ns/mesh/sa/client"'),
      );
    assert.ok(line, `no destination-side line for the client in:\n${text.slice(0, 2000)}`);
    assert.match(line, /destination_principal="spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/server"/);
    assert.match(line, /connection_security_policy="mutual_tls"/);
  });

  it('a DENY policy blocks exactly the calls it names', async () => {
    const [client, other] = [await pod('mesh', 'client'), await pod('mesh', 'other')];
    await policy('deny-client', {
      selector: { matchLabels: { app: 'server' } },
      action: 'DENY',
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/mesh/sa/client'] } }] }],
    });
    try {
      await until('client denied', async () => !(await call(client, `http://${target.status!.podIP}:8080/`)).ok);
      assert.ok((await call(other, `http://${target.status!.podIP}:8080/`)).ok, 'other is not named and still gets through');
    } finally {
      await deletePolicy('authorizationpolicies', 'deny-client');
    }
    await until('client allowed again', async () => (await call(client, `http://${target.status!.podIP}:8080/`)).ok);
  });

  it('an invalid DENY policy denies everything it selects instead of nothing (it used to fail open)', async () => {
    const [client, other] = [await pod('mesh', 'client'), await pod('mesh', 'other')];
    await policy('deny-typo', {
      selector: { matchLabels: { app: 'server' } },
      action: 'DENY',
      rules: [{ from: [{ source: { ipBlocks: ['10.244.0.0/99'] } }] }],
    });
    try {
      await until('every caller denied', async () => !(await call(client, `http://${target.status!.podIP}:8080/`)).ok);
      assert.ok(!(await call(other, `http://${target.status!.podIP}:8080/`)).ok, 'other is denied too: the policy cannot say whom it spares');
    } finally {
      await deletePolicy('authorizationpolicies', 'deny-typo');
    }
    await until('allowed again once it is gone', async () => (await call(client, `http://${target.status!.podIP}:8080/`)).ok);
  });

  it('closes a live connection that a new DENY policy no longer allows', async () => {
    const client = await pod('mesh', 'client');
    const started = Date.now();
    // A request the server holds for 20 s: the connection is live when the policy lands.
    const inFlight = call(client, `http://${target.status!.podIP}:8080/delay/20000`).then((r) => ({ ...r, after: Date.now() - started }));
    await sleep(1_000);
    await policy('deny-live', {
      selector: { matchLabels: { app: 'server' } },
      action: 'DENY',
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/mesh/sa/client'] } }] }],
    });
    try {
      const r = await inFlight;
      assert.equal(r.ok, false, 'the held request must not complete');
      assert.ok(r.after < 15_000, `the connection was closed by the policy change, not by the server (${r.after} ms)`);
    } finally {
      await deletePolicy('authorizationpolicies', 'deny-live');
    }
    await until('client allowed again', async () => (await call(client, `http://${target.status!.podIP}:8080/`)).ok);
  });

  it('an ALLOW policy admits only its sources', async () => {
    const [client, other] = [await pod('mesh', 'client'), await pod('mesh', 'other')];
    await policy('allow-other', {
      selector: { matchLabels: { app: 'server' } },
      action: 'ALLOW',
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/mesh/sa/other'] } }] }],
    });
    try {
      await until('client not admitted', async () => !(await call(client, `http://${target.status!.podIP}:8080/`)).ok);
      assert.ok((await call(other, `http://${target.status!.podIP}:8080/`)).ok);
    } finally {
      await deletePolicy('authorizationpolicies', 'allow-other');
    }
  });

  it('STRICT refuses a client outside the mesh and PERMISSIVE admits it', async () => {
    const outsider = await pod('plain', 'outsider');
    const url = `http://${target.status!.podIP}:8080/`;
    assert.ok((await call(outsider, url)).ok, 'no PeerAuthentication: plaintext is accepted');
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'mesh',
      plural: 'peerauthentications',
      body: { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICT' } } },
    });
    try {
      await until('plaintext refused under STRICT', async () => !(await call(outsider, url)).ok);
      assert.ok((await call(await pod('mesh', 'client'), url)).ok, 'mesh clients still get through');
      await custom.patchNamespacedCustomObject(
        {
          group: 'security.istio.io',
          version: 'v1',
          namespace: 'mesh',
          plural: 'peerauthentications',
          name: 'default',
          body: { spec: { mtls: { mode: 'PERMISSIVE' } } },
        },
        mergePatch,
      );
      await until('plaintext admitted under PERMISSIVE', async () => (await call(outsider, url)).ok);
    } finally {
      await deletePolicy('peerauthentications', 'default');
    }
  });

  it('refuses garbage on 15008 without crashing or disturbing other connections', async () => {
    const outsider = await pod('plain', 'outsider');
    const garbage = `const net = require('net'); const inputs = ['GET / HTTP/1.1\\r\\n\\r\\n', 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n', '\\x16\\x03\\x01\\x00\\x05hello', Buffer.alloc(4096, 0), require('crypto').randomBytes(2048)];
      let left = inputs.length * 4; for (let i = 0; i < inputs.length * 4; i++) { const s = net.connect(15008, '${target.status!.podIP}', () => s.end(inputs[i % inputs.length])); s.on('error', () => {}); s.on('close', () => { if (--left === 0) process.exit(0); }); s.setTimeout(3000, () => s.destroy()); }`;
    const r = await execInNetns(netnsOf(outsider), [process.execPath, '-e', garbage], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const node = target.spec!.nodeName === 'node-2' ? 2 : 1;
    assert.match(await fromNode(node, "fetch('http://127.0.0.1:15021/healthz/ready').then(r => process.stdout.write(String(r.status)))"), /200/);
    assert.ok((await call(await pod('mesh', 'client'), `http://${target.status!.podIP}:8080/`)).ok);
  });

  it("refuses connections to ztunnel's own ports in a pod instead of connecting ztunnel to itself", async () => {
    // A plaintext connection to <pod>:15006 (or 15001, 15008's neighbours) used to be redirected
    // into ztunnel, which dialled the same address from inside the pod, reaching its own
    // listener again: a loop that ends only when the node's ztunnel runs out of descriptors.
    const outsider = await pod('plain', 'outsider');
    const ip = target.status!.podIP!;
    const attempts = `const net = require('net'); let left = 6; const done = () => { if (--left === 0) process.exit(0); };
      for (const port of [15001, 15006, 15000, 15001, 15006, 15021]) { const s = net.connect(port, '${ip}', () => s.write('GET / HTTP/1.1\\r\\n\\r\\n')); s.on('error', () => {}); s.on('close', done); s.setTimeout(5000, () => { console.error('port ' + port + ' still open after 5 s'); process.exit(1); }); }`;
    const r = await execInNetns(netnsOf(outsider), [process.execPath, '-e', attempts], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const node = target.spec!.nodeName === 'node-2' ? 2 : 1;
    const refused = (await metrics(node))
      .split('\n')
      .filter((l) => l.startsWith('ztunnel_connections_refused_total{') && l.includes('reason="own_port"'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    assert.ok(refused >= 6, `expected the 6 attempts refused as own_port, got ${refused}`);
    assert.match(await fromNode(node, "fetch('http://127.0.0.1:15021/healthz/ready').then(r => process.stdout.write(String(r.status)))"), /200/);
    assert.ok(!(await call(await pod('mesh', 'client'), `http://${ip}:15006/`)).ok, 'a mesh client cannot reach them either');
    assert.ok((await call(await pod('mesh', 'client'), `http://${ip}:8080/`)).ok, 'other connections are unaffected');
  });

  it('rotates certificates under continuous traffic with no failed request', async () => {
    const client = await pod('mesh', 'client');
    const serial = async (): Promise<string> =>
      (await configDump(1)).certificates.find((c: any) => c.identity === 'spiffe://cluster.local/ns/mesh/sa/client').serial;
    const before = await serial();
    let calls = 0;
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline && (calls < 5 || (await serial()) === before)) {
      const r = await call(client, `http://${target.status!.podIP}:8080/`, 3);
      assert.ok(r.ok, `call ${calls} failed during rotation: ${r.output}`);
      calls++;
    }
    assert.notEqual(await serial(), before, 'the client certificate rotated during the run');
  });

  it('restores service for new connections after ztunnel restarts', async () => {
    const node = target.spec!.nodeName!;
    const zt = (await core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=ztunnel', fieldSelector: `spec.nodeName=${node}` })).items[0]!;
    await core.deleteNamespacedPod({ name: zt.metadata!.name!, namespace: 'istio-system' });
    await until('a new ztunnel pod on the node', async () => {
      const now = (await core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=ztunnel', fieldSelector: `spec.nodeName=${node}` })).items;
      return now.some((p) => p.metadata!.uid !== zt.metadata!.uid && p.status?.phase === 'Running');
    });
    await until('calls succeed again', async () => (await call(await pod('mesh', 'client'), `http://${target.status!.podIP}:8080/`)).ok, 30_000);
  });

  it('keeps every pod captured while the CNI agent restarts, and captures a pod created meanwhile once it is back', async () => {
    const node = 'node-1';
    const agents = async () =>
      (await core.listNamespacedPod({ namespace: 'istio-system', labelSelector: 'app=istio-cni-node', fieldSelector: `spec.nodeName=${node}` })).items;
    const before = await capturedUids();
    const [old] = await agents();
    assert.ok(old, `no istio-cni-node pod on ${node}`);
    await core.deleteNamespacedPod({ name: old.metadata!.name!, namespace: 'istio-system' });
    // Its ADD reaches a stopping or restarting agent: refused (try again later) and retried by
    // the kubelet, or taken by the new agent; never started without the agent knowing it.
    await core.createNamespacedPod({
      namespace: 'mesh',
      body: {
        metadata: { name: 'late', labels: { app: 'late' } },
        spec: { nodeName: node, serviceAccountName: 'client', containers: [container('late', 9000)] },
      },
    });
    await until('a new agent pod on the node', async () =>
      (await agents()).some((p) => p.metadata!.uid !== old.metadata!.uid && p.status?.phase === 'Running'),
    );
    const late = await until('the late pod running', async () => {
      const p = await pod('mesh', 'late');
      return p.status?.phase === 'Running' && p;
    });
    await until('the late pod captured, and every pod captured before still is', async () => {
      const now = new Set(await capturedUids());
      return now.has(late.metadata!.uid!) && before.every((u) => now.has(u));
    });
    assert.ok((await call(late, `http://${target.status!.podIP}:8080/`)).ok, 'the late pod calls through the mesh');
    await core.deleteNamespacedPod({ name: 'late', namespace: 'mesh' });
    await until('the late pod gone', async () => !(await core.listNamespacedPod({ namespace: 'mesh' })).items.some((p) => p.metadata!.name === 'late'));
  });

  it('returns the pods to plain traffic with no rules left behind when the namespace is un-labelled', async () => {
    await core.patchNamespace({ name: 'mesh', body: { metadata: { labels: { 'istio.io/dataplane-mode': null } } } }, mergePatch);
    await until('nothing captured', async () => (await capturedUids()).length === 0).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify([(await configDump(1)).captured, (await configDump(2)).captured])}`);
    });
    const rules = await execInNetns(netnsOf(target), ['iptables-save'], { timeoutMs: 10_000 });
    assert.doesNotMatch(rules.stdout, /ZTUNNEL/);
    assert.ok((await call(await pod('mesh', 'client'), `http://${target.status!.podIP}:8080/`)).ok, 'plain traffic flows');
  });
});
