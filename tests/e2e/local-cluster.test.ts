// The local cluster end to end, through its CLI and the real kubectl: two nodes, four pods,
// pod→pod and pod→service across nodes with an unmodified client, and a `down` that leaves the
// host exactly as it found it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const cli = join(repo, 'local-cluster/src/main.ts');
const kubectl = join(repo, '.cache/kubectl/v1.34/kubectl');

async function localCluster(args: string[], timeout = 90_000): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], { timeout, encoding: 'utf8' });
}

async function hostNetworkState(): Promise<{ netns: string; iptables: string }> {
  const netns = (await run('ip', ['netns', 'list'], { encoding: 'utf8' })).stdout;
  // Counters and the generation comment change on their own; the rules must not.
  const iptables = (await run('iptables-save', [], { encoding: 'utf8' })).stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
  return { netns, iptables };
}

const manifest = `
apiVersion: v1
kind: Namespace
metadata: { name: e2e }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: e2e }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ambient/echo:local
          command: [ambient-echo, serve, --port, "8080"]
          ports: [{ name: http, containerPort: 8080 }]
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: NODE_NAME, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: e2e }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: e2e, labels: { app: client } }
spec:
  nodeName: node-1
  containers:
    - name: client
      image: ambient/echo:local
      command: [ambient-echo, serve, --port, "9000"]
`;

interface PodView {
  name: string;
  ip: string;
  node: string;
  phase: string;
}

describe('local cluster e2e (2 nodes, 4 pods, real namespaces)', function () {
  this.timeout(180_000);
  let dataDir: string;
  let hostBefore: { netns: string; iptables: string };
  let kubeEnv: NodeJS.ProcessEnv;

  const kubectlJson = async (args: string[]): Promise<any> =>
    JSON.parse((await run(kubectl, [...args, '-o', 'json'], { env: kubeEnv, encoding: 'utf8', timeout: 30_000 })).stdout);

  const pods = async (): Promise<PodView[]> =>
    (await kubectlJson(['get', 'pods', '-n', 'e2e'])).items.map((p: any) => ({
      name: p.metadata.name,
      ip: p.status?.podIP ?? '',
      node: p.spec?.nodeName ?? '',
      phase: p.status?.phase ?? '',
    }));

  const execIn = (pod: string, cmd: string[]): Promise<{ stdout: string; stderr: string }> =>
    localCluster(['exec', pod, '-n', 'e2e', '--data', dataDir, '--', ...cmd], 60_000);

  before(async () => {
    hostBefore = await hostNetworkState();
    dataDir = mkdtempSync(join(tmpdir(), 'lc-e2e-'));
    kubeEnv = { ...process.env, KUBECONFIG: join(dataDir, 'kubeconfig') };
    await localCluster(['up', '--data', dataDir, '--nodes', '2', '--port', '0']);
    const file = join(dataDir, 'e2e.yaml');
    writeFileSync(file, manifest);
    await run(kubectl, ['apply', '-f', file], { env: kubeEnv, timeout: 30_000 });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ps = await pods();
      if (ps.length === 4 && ps.every((p) => p.phase === 'Running' && p.ip)) break;
      if (Date.now() > deadline) assert.fail(`pods not running in time: ${JSON.stringify(ps)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  });

  after(async () => {
    if (dataDir) {
      await localCluster(['down', '--data', dataDir]).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('registers two Ready nodes with their pod CIDRs', async () => {
    const nodes = (await kubectlJson(['get', 'nodes'])).items;
    assert.deepEqual(nodes.map((n: any) => n.metadata.name).sort(), ['node-1', 'node-2']);
    for (const n of nodes) {
      assert.equal(n.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
      assert.match(n.spec.podCIDR, /^10\.244\.\d+\.0\/24$/);
    }
  });

  it('spreads the deployment across both nodes', async () => {
    const web = (await pods()).filter((p) => p.name.startsWith('web-'));
    assert.equal(web.length, 3);
    assert.deepEqual([...new Set(web.map((p) => p.node))].sort(), ['node-1', 'node-2']);
  });

  it('lets an unmodified client reach a pod on the other node by its IP', async () => {
    const target = (await pods()).find((p) => p.name.startsWith('web-') && p.node === 'node-2')!;
    const { stdout } = await execIn('client', ['ambient-echo', 'call', `http://${target.ip}:8080/`]);
    const reply = JSON.parse(stdout.trim().split('\n')[0]!);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.pod, target.name);
    assert.equal(reply.body.node, 'node-2');
  });

  it('reaches the service by DNS name and by ClusterIP, load-balanced over both nodes', async () => {
    const svc = await kubectlJson(['get', 'service', 'web', '-n', 'e2e']);
    assert.match(svc.spec.clusterIP, /^10\.96\./);
    const seen = new Set<string>();
    for (const url of ['http://web.e2e.svc.cluster.local/', 'http://web/', `http://${svc.spec.clusterIP}/`]) {
      const { stdout } = await execIn('client', ['ambient-echo', 'call', url, '--count', '12']);
      for (const line of stdout.trim().split('\n')) {
        const reply = JSON.parse(line);
        assert.equal(reply.status, 200, line);
        seen.add(reply.body.node);
      }
    }
    assert.deepEqual([...seen].sort(), ['node-1', 'node-2']);
  });

  it('shows the pods with kubectl get as Running with no restarts', async () => {
    const { stdout } = await run(kubectl, ['get', 'pods', '-n', 'e2e'], { env: kubeEnv, encoding: 'utf8' });
    const rows = stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 4);
    for (const row of rows) assert.match(row, /\s1\/1\s+Running\s+0\s/);
  });

  it('leaves no namespace, link or rule behind after down, and down is idempotent', async () => {
    await localCluster(['down', '--data', dataDir]);
    await localCluster(['down', '--data', dataDir]);
    const now = await hostNetworkState();
    assert.equal(now.netns, hostBefore.netns);
    assert.equal(now.iptables, hostBefore.iptables);
  });
});

describe('local-cluster up without privileges', () => {
  it('exits 1 and names the fix', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lc-noroot-'));
    try {
      const r = await run(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'up', '--foreground', '--data', dataDir, '--port', '0'],
        { encoding: 'utf8', timeout: 30_000 },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /needs root/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
