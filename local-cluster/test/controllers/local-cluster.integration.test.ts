// The kubelets and controllers against the real embedded API server and real network
// namespaces (needs root): a Deployment behind a Service answers by name and ClusterIP from
// another pod, pods are recreated, crash loops show restarts, scale to zero removes the netns;
// kubectl 1.20 (JSON bodies), 1.32 and 1.34 (protobuf bodies) drive the same workflow.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, AuthenticationV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { mergePatch } from '@ambient/api/kube';
import { startApiServer, type ApiServer } from '../../src/apiserver/index.ts';
import { startControllers, type ClusterContext } from '../../src/controllers/index.ts';
import { Kubelet } from '../../src/kubelet/index.ts';
import { CniAgent, type PodInfo } from '@ambient/cni';
import { nodeAgentSocketPath, repoRoot } from '../../src/cluster.ts';
import { macFor } from '../../src/runtime/cluster-network.ts';
import { ClusterNetwork, execInNetns, listNetns, nodeCniDirs, podNetns } from '../../src/runtime/index.ts';
import { kubectl as kubectlVersion } from '../apiserver/harness.ts';

const NS = 'demo';
const SERVER = `require('http').createServer((q, s) => s.end(process.env.POD_NAME)).listen(8080)`;
const IDLE = 'setInterval(() => {}, 1 << 30)';
const KUBECTL = join(import.meta.dirname, '../../../.cache/kubectl/v1.34/kubectl'); // scripts/fetch-kubectl.sh

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The mesh's CNI plugin, compiled as `npm run build` does in cni/. */
function buildCniPlugin(outDir: string): string {
  execFileSync('bash', [join(repoRoot, 'cni/plugin/build.sh'), outDir], { stdio: 'inherit' });
  return join(outDir, 'ambient-cni');
}

describe('local cluster kubelets and controllers (root, real netns)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let server: ApiServer | undefined;
  let network: ClusterNetwork | undefined;
  const kubelets: Kubelet[] = [];
  let controllers: { stop(): Promise<void> } | undefined;
  let core: CoreV1Api;
  let ctx: ClusterContext;
  let apps: AppsV1Api;
  const hookEvents: string[] = [];
  const agents: CniAgent[] = [];
  let pluginBinary: string;

  const podsOf = async (selector: string) => (await core.listNamespacedPod({ namespace: NS, labelSelector: selector })).items;
  const kubectl = async (...args: string[]) =>
    (await promisify(execFile)(KUBECTL, args, { env: { ...process.env, KUBECONFIG: server!.kubeconfigPath }, timeout: 10_000 })).stdout;
  const running = (p: V1Pod) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  const inPod = async (pod: V1Pod, code: string) => {
    const r = await execInNetns(podNetns(network!.clusterId, pod.metadata!.uid!), [process.execPath, '-e', code], { timeoutMs: 5_000 });
    return r;
  };
  const fetchCode = (url: string) =>
    `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(2000) }).then(r => r.text()).then(t => console.log(t), e => { console.error(String(e.cause ?? e)); process.exit(1); })`;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'lc-b2-'));
    const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
    server = await startApiServer({ dataDir, port: 0, logger });
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    pluginBinary = buildCniPlugin(join(dataDir, 'plugin'));
    network = await ClusterNetwork.create({ dataDir, logger });
    ctx = { kubeConfig: kc, network, dataDir, logger, binPath: [] };
    for (const [i, name] of [
      [1, 'node1'],
      [2, 'node2'],
    ] as const) {
      const node = await network.addNode(i, name);
      // The mesh's CNI agent, in-process: the kubelet's CNI ADD/DEL reach it through the real plugin.
      const dirs = nodeCniDirs(dataDir, name);
      const agent = await CniAgent.start({
        nodeName: name,
        confDir: dirs.confDir,
        binDir: dirs.binDir,
        runDir: dirs.agentRunDir,
        nodeAgentSocket: nodeAgentSocketPath(dataDir, name),
        netnsDir: '/run/netns',
        pluginBinary,
        logger,
      });
      agents.push(agent);
      agent.server.on('add', (p: PodInfo) => hookEvents.push(`add ${p.name}`));
      agent.server.on('remove', (p: PodInfo) => hookEvents.push(`remove ${p.name}`));
      const k = new Kubelet(ctx, node);
      kubelets.push(k);
      await k.start();
    }
    controllers = await startControllers(ctx);
    await core.createNamespace({ body: { metadata: { name: NS } } });
  });

  after(async () => {
    await controllers?.stop();
    for (const k of kubelets) await k.stop();
    for (const a of agents) await a.stop();
    await network?.destroy();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers Ready nodes', async () => {
    const nodes = (await core.listNode()).items;
    assert.deepEqual(nodes.map((n) => n.metadata?.name).sort(), ['node1', 'node2']);
    for (const n of nodes) {
      assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      assert.equal(n.status?.nodeInfo?.kubeletVersion, 'v1.34.0-local');
    }
  });

  it('runs a Deployment behind a Service reachable by name and ClusterIP from another pod', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'echo' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'echo' } },
          template: {
            metadata: { labels: { app: 'echo' } },
            spec: {
              containers: [
                {
                  name: 'echo',
                  image: 'ignored',
                  command: [process.execPath, '-e', SERVER],
                  ports: [{ name: 'http', containerPort: 8080 }],
                  env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
                },
              ],
            },
          },
        },
      },
    });
    const svc = await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'echo' },
        spec: { selector: { app: 'echo' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
      },
    });
    const pods = await waitFor('2 running echo pods', async () => {
      const ps = await podsOf('app=echo');
      return ps.length === 2 && ps.every(running) && ps;
    });
    assert.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), ['node1', 'node2']);
    for (const p of pods) assert.match(p.status!.podIP!, /^10\.244\.[12]\.\d+$/);
    await waitFor('deployment status ready 2', async () => (await apps.readNamespacedDeployment({ name: 'echo', namespace: NS })).status?.readyReplicas === 2);
    assert.match(await kubectl('get', 'deploy', 'echo', '-n', NS, '--no-headers'), /^echo\s+2\/2\s+2\s+2\s/);

    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'client', labels: { app: 'client' } },
        spec: { containers: [{ name: 'c', image: 'local', command: [process.execPath, '-e', IDLE] }] },
      },
    });
    const client = await waitFor('client pod running', async () => {
      const p = await core.readNamespacedPod({ name: 'client', namespace: NS });
      return running(p) && p;
    });
    const names = new Set(pods.map((p) => p.metadata!.name!));
    for (const url of ['http://echo.demo.svc.cluster.local/', `http://${svc.spec!.clusterIP}/`, 'http://echo/']) {
      const answer = await waitFor(`an answer from ${url}`, async () => {
        const r = await inPod(client, fetchCode(url));
        if (r.code !== 0) throw new Error(r.stderr.trim());
        return r.stdout.trim();
      });
      assert.ok(names.has(answer), `${url} answered ${answer}`);
    }
    assert.ok(hookEvents.includes('add client'));
  });

  it('recreates a deleted pod of the Deployment', async () => {
    const [victim] = await podsOf('app=echo');
    await core.deleteNamespacedPod({ name: victim!.metadata!.name!, namespace: NS });
    await waitFor('a replacement pod running', async () => {
      const ps = await podsOf('app=echo');
      return ps.length === 2 && ps.every(running) && !ps.some((p) => p.metadata?.name === victim!.metadata!.name) && ps;
    });
    await waitFor('the hook told about the removal', async () => hookEvents.includes(`remove ${victim!.metadata!.name}`));
  });

  it('shows restarts of a container that keeps exiting 1', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'crasher' },
        spec: { containers: [{ name: 'c', image: 'local', command: [process.execPath, '-e', 'process.exit(1)'] }] },
      },
    });
    const p = await waitFor('a restart', async () => {
      const pod = await core.readNamespacedPod({ name: 'crasher', namespace: NS });
      return (pod.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && pod;
    });
    const cs = p.status!.containerStatuses![0]!;
    assert.equal(p.status?.phase, 'Running');
    assert.equal(cs.lastState?.terminated?.exitCode, 1);
    // NAME READY STATUS RESTARTS AGE, as kubectl computes them from the container statuses.
    // Each restart runs the container for a moment (1/1 Running) before it exits again, so
    // wait for the back-off between two runs rather than catch whichever state is current.
    const crashLoop = /^crasher\s+0\/1\s+(CrashLoopBackOff|Error)\s+[1-9]\d*\s/;
    const line = await waitFor('kubectl showing the crash loop', async () => {
      const out = await kubectl('get', 'pod', 'crasher', '-n', NS, '--no-headers');
      return crashLoop.test(out) && out;
    });
    assert.match(line, crashLoop);
  });

  it('fails a pod without command with reason NoCommand', async () => {
    await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'nocmd' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } });
    const p = await waitFor('the pod failed', async () => {
      const pod = await core.readNamespacedPod({ name: 'nocmd', namespace: NS });
      return pod.status?.phase === 'Failed' && pod;
    });
    assert.equal(p.status?.reason, 'NoCommand');
  });

  it('runs one DaemonSet pod per node and reports its status', async () => {
    await apps.createNamespacedDaemonSet({
      namespace: NS,
      body: {
        metadata: { name: 'agent' },
        spec: {
          selector: { matchLabels: { app: 'agent' } },
          template: {
            metadata: { labels: { app: 'agent' } },
            spec: {
              containers: [{ name: 'a', image: 'local', command: [process.execPath, '-e', IDLE] }],
            },
          },
        },
      },
    });
    const pods = await waitFor('2 agent pods running', async () => {
      const ps = await podsOf('app=agent');
      return ps.length === 2 && ps.every(running) && ps;
    });
    assert.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), ['node1', 'node2']);
    await waitFor('daemonset status', async () => {
      const s = (await apps.readNamespacedDaemonSet({ name: 'agent', namespace: NS })).status;
      return s?.desiredNumberScheduled === 2 && s.numberReady === 2 && s.updatedNumberScheduled === 2;
    });
  });

  it('a restarted kubelet takes over its pods: processes run again with the same IP', async () => {
    const echo = (await podsOf('app=echo')).find((p) => p.spec?.nodeName === 'node2')!;
    const index = kubelets.findIndex((k) => k.nodeName === 'node2');
    await kubelets[index]!.stop();
    const echoNetns = podNetns(network!.clusterId, echo.metadata!.uid!);
    const pids = async () => (await promisify(execFile)('ip', ['netns', 'pids', echoNetns])).stdout.trim();
    assert.equal(await pids(), '', 'a stopped kubelet leaves no process behind');
    const fresh = new Kubelet(ctx, network!.nodes().find((n) => n.name === 'node2')!);
    kubelets[index] = fresh;
    await fresh.start();
    // Probed from the client pod, after earlier tests deleted pods: a regression test for
    // bridges without a fixed MAC, whose gateway MAC changed under the pods' ARP caches.
    const client = await core.readNamespacedPod({ name: 'client', namespace: NS });
    const url = `http://${echo.status!.podIP}:8080/`;
    const answer = await waitFor(`an answer from ${url}`, async () => {
      const r = await inPod(client, fetchCode(url));
      if (r.code !== 0) throw new Error(r.stderr.trim());
      return r.stdout.trim();
    });
    assert.equal(answer, echo.metadata!.name);
    const after = await core.readNamespacedPod({ name: echo.metadata!.name!, namespace: NS });
    assert.equal(after.status?.podIP, echo.status?.podIP);
  });

  it('controllers and kubelets carry on after the API server restarts', async () => {
    const port = Number(new URL(server!.url).port);
    await server!.close();
    server = await startApiServer({ dataDir, port, logger: pino({ level: 'silent' }) });
    await waitFor('the API server answering', async () => (await core.listNode()).items.length === 2);
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'late' },
        spec: { containers: [{ name: 'c', image: 'local', command: [process.execPath, '-e', IDLE] }] },
      },
    });
    await waitFor('the pod created after the restart running', async () => running(await core.readNamespacedPod({ name: 'late', namespace: NS })));
  });

  it('projects a pod-bound ServiceAccount token whose review names the pod and its node', async () => {
    // The container prints the token it finds through $AMBIENT_SA_TOKEN_FILE.
    const code = `process.stdout.write(require('fs').readFileSync(process.env.AMBIENT_SA_TOKEN_FILE, 'utf8')); setInterval(() => {}, 1 << 30)`;
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'tokened' },
        spec: { nodeName: 'node2', containers: [{ name: 'c', image: 'local', command: [process.execPath, '-e', code] }] },
      },
    });
    const pod = await waitFor('the pod running', async () => {
      const p = await core.readNamespacedPod({ name: 'tokened', namespace: NS });
      return running(p) && p;
    });
    const token = await waitFor('the token in its log', async () => {
      const text = await core.readNamespacedPodLog({ name: 'tokened', namespace: NS }).catch(() => '');
      return text.split('.').length === 3 && text;
    });
    const review = await ctx.kubeConfig.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token } } });
    assert.equal(review.status?.authenticated, true);
    assert.equal(review.status?.user?.username, `system:serviceaccount:${NS}:default`);
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/node-name'], ['node2']);
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-uid'], [pod.metadata!.uid]);
  });

  it("a pod's MAC follows from its IP, so a pod given a deleted pod's IP is reached at once: the node's neighbour entry is not stale", async () => {
    // The node caches the MAC behind each pod IP it forwarded to; a new pod reusing the IP
    // with a new MAC went unreached until the cached entry expired (~5-10 s of lost SYNs).
    const client = await core.readNamespacedPod({ name: 'client', namespace: NS });
    const node2 = network!.nodes().find((n) => n.name === 'node2')!;
    const serve = async (name: string) => {
      await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name, labels: { app: 'reuse' } },
          spec: {
            nodeName: 'node2',
            containers: [{ name: 'c', image: 'local', command: [process.execPath, '-e', SERVER], env: [{ name: 'POD_NAME', value: name }] }],
          },
        },
      });
      const pod = await waitFor(`${name} running`, async () => {
        const p = await core.readNamespacedPod({ name, namespace: NS });
        return running(p) && p;
      });
      const url = `http://${pod.status!.podIP}:8080/`;
      assert.equal(await waitFor(`an answer from ${url}`, async () => (await inPod(client, fetchCode(url))).stdout.trim()), name);
      return pod;
    };
    const first = await serve('reuse-a');
    await core.deleteNamespacedPod({ name: 'reuse-a', namespace: NS });
    const firstNetns = podNetns(network!.clusterId, first.metadata!.uid!);
    await waitFor('reuse-a netns removed', async () => !(await listNetns()).includes(firstNetns));
    const second = await serve('reuse-b');
    // host-local hands addresses out round-robin, so reuse-b need not get reuse-a's address; what
    // makes a reused address safe is that its MAC follows from it (macFor), whichever pod has it.
    const mac = (await execInNetns(podNetns(network!.clusterId, second.metadata!.uid!), ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    assert.equal(mac, macFor(second.status!.podIP!));
    const neighbour = (await promisify(execFile)('ip', ['-n', node2.netns, 'neigh', 'show', second.status!.podIP!, 'dev', 'cni0'])).stdout;
    assert.match(neighbour, new RegExp(`lladdr ${mac} `), `node2's neighbour entry for ${second.status!.podIP} names reuse-b's MAC ${mac}`);
    await core.deleteNamespacedPod({ name: 'reuse-b', namespace: NS });
  });

  it('scales to zero: no pods and their netns are gone', async () => {
    const before = await podsOf('app=echo');
    await apps.patchNamespacedDeployment({ name: 'echo', namespace: NS, body: { spec: { replicas: 0 } } }, mergePatch);
    await waitFor('no echo pods', async () => (await podsOf('app=echo')).length === 0);
    const gone = before.map((p) => podNetns(network!.clusterId, p.metadata!.uid!));
    await waitFor('their netns removed', async () => {
      const list = await listNetns();
      return gone.every((n) => !list.includes(n));
    });
  });

  // kubectl ≥1.32's typed clients send protobuf; 1.20 sends JSON. Each drives the same
  // workflow in its own namespace, and the objects they leave must be the same.
  const TYPED_CLIENT_VERSIONS = ['v1.20', 'v1.32', 'v1.34'];
  const WEB = `require('http').createServer((q, s) => s.end('hello from web')).listen(8080)`;
  for (const version of TYPED_CLIENT_VERSIONS) {
    it(`kubectl ${version}: create namespace|configmap|secret|serviceaccount|deployment, run, expose, scale, rollout status`, async () => {
      const ns = `kubectl-${version.replace('.', '-')}`;
      const k = async (...args: string[]) => {
        const r = await kubectlVersion(version, server!, args, { timeoutMs: 90_000 });
        assert.equal(r.code, 0, `kubectl ${version} ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      assert.match(await k('create', 'namespace', ns), /namespace\/kubectl-v1-\d+ created/);
      await k('create', 'configmap', 'settings', '-n', ns, '--from-literal=mode=fast', '--from-literal=empty=');
      await k('create', 'secret', 'generic', 'token', '-n', ns, '--from-literal=token=hunter2');
      await k('create', 'serviceaccount', 'web', '-n', ns);
      await k('create', 'deployment', 'web', '-n', ns, '--image=local', '--port=8080', '--', process.execPath, '-e', WEB);
      assert.match(await k('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s'), /successfully rolled out/);
      await k('expose', 'deployment', 'web', '-n', ns, '--port=80', '--target-port=8080');
      await k('scale', 'deployment', 'web', '-n', ns, '--replicas=2');
      assert.match(await k('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s'), /successfully rolled out/);
      assert.equal((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).status?.readyReplicas, 2);
      // A new Service's rules land a moment after it exists, and a SYN sent before them keeps
      // its un-NATed conntrack entry: the probe retries on fresh connections, 20 at most.
      const call = `(async () => { for (let i = 0; ; i++) { try { console.log(await (await fetch('http://web.${ns}/', { signal: AbortSignal.timeout(1000) })).text()); return; } catch (e) { if (i === 19) { console.error(String(e.cause ?? e)); process.exit(1); } } } })()`;
      await k('run', 'probe', '-n', ns, '--image=local', '--restart=Never', '--command', '--', process.execPath, '-e', call);
      await waitFor('the probe pod to finish', async () => {
        const phase = (await core.readNamespacedPod({ name: 'probe', namespace: ns })).status?.phase;
        if (phase === 'Failed') throw new Error(`probe failed: ${await k('logs', 'probe', '-n', ns)}`);
        return phase === 'Succeeded';
      });
      assert.equal((await k('logs', 'probe', '-n', ns)).trim(), 'hello from web');
      assert.equal(Buffer.from((await core.readNamespacedSecret({ name: 'token', namespace: ns })).data!.token!, 'base64').toString(), 'hunter2');
      assert.deepEqual((await core.readNamespacedConfigMap({ name: 'settings', namespace: ns })).data, { mode: 'fast', empty: '' });
    });
  }

  it("kubectl exec runs inside the pod's network namespace", async () => {
    const ns = 'kubectl-v1-34';
    const pod = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items[0]!;
    const r = await kubectlVersion('v1.34', server!, [
      'exec',
      '-n',
      ns,
      pod.metadata!.name!,
      '--',
      process.execPath,
      '-e',
      "console.log(Object.values(require('os').networkInterfaces()).flat().map(a => a.address).join(' '))",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stdout
        .split(' ')
        .map((a) => a.trim())
        .includes(pod.status!.podIP!),
      `${r.stdout} names ${pod.status!.podIP}`,
    );
  });

  it('keeps the same objects whichever kubectl wrote them, JSON or protobuf', async () => {
    const shape = async (version: string) => {
      const ns = `kubectl-${version.replace('.', '-')}`;
      const out: Record<string, unknown> = {};
      for (const object of ['configmap/settings', 'secret/token', 'serviceaccount/web', 'deployment/web', 'service/web', 'pod/probe']) {
        const r = await kubectlVersion('v1.34', server!, ['get', object, '-n', ns, '-o', 'json']);
        const o = JSON.parse(r.stdout) as { metadata: Record<string, unknown>; spec?: Record<string, unknown>; status?: unknown };
        for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'namespace', 'managedFields', 'generation', 'annotations']) delete o.metadata[key];
        for (const key of ['clusterIP', 'clusterIPs', 'nodeName']) delete o.spec?.[key];
        delete o.status;
        // Go's JSON writes a zero Time (a template's creationTimestamp) as null; protobuf leaves it out.
        out[object] = JSON.parse(JSON.stringify(o).replaceAll(ns, 'NS'), (key, value) => (key === 'creationTimestamp' && value === null ? undefined : value));
      }
      return out;
    };
    const json = await shape('v1.20');
    for (const version of ['v1.32', 'v1.34']) assert.deepEqual(await shape(version), json, `kubectl ${version}'s objects`);
  });
});
