// The impersonation suite, the attacks that need the cluster (see tests/security/ for the rest):
// real pods, netns and iptables, ztunnel as its DaemonSet. An attacker in a pod outside the mesh
// holds a real mesh certificate (for mesh/client, issued by istiod-lite to a token the API
// server minted) and dials the server pod's 15008 with CONNECTs whose :authority names some
// other destination; then, under STRICT, it tries plaintext. Every attempt must be refused
// (400 for the authorities; no byte of an answer for plaintext), and a healthy call beside
// each must succeed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import crypto from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { createCsr } from '@ambient/api';
import { grpcCaClient } from '@ambient/api/proxy-runtime';
import { startCluster, type Cluster } from '@ambient/local-cluster/cluster';
import { applyManifests } from '@ambient/local-cluster/manifests';
import { deployZtunnel, istiodProcess, istiodSocket, meshRootCertFile } from '@ambient/local-cluster/mesh';
import { execInNetns, nodeNetns, podNetns } from '@ambient/local-cluster/runtime';
import { echoScript, until as poll } from '@ambient/tests';

const echo = echoScript;
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> => poll(what, fn, timeoutMs, 200);

const container = (name: string, port: number) => ({
  name,
  image: 'ambient/echo:local',
  command: [process.execPath, echo, 'serve', '--port', String(port)],
  ports: [{ name: 'http', containerPort: port }],
  env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
});
const pod = (namespace: string, name: string, sa: string | undefined, port: number) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels: { app: name } },
  spec: { nodeName: 'node-1', ...(sa ? { serviceAccountName: sa } : {}), containers: [container(name, port)] },
});
const manifests = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mesh', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } },
  ...['server', 'client', 'other'].map((sa) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: 'mesh' } })),
  pod('mesh', 'server', 'server', 8080),
  pod('mesh', 'client', 'client', 9000),
  pod('mesh', 'other', 'other', 9000),
  pod('plain', 'outsider', undefined, 9000),
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'server', namespace: 'mesh' },
    spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  },
];

// Run inside the attacker's netns: one CONNECT per authority to the server pod's 15008, each on
// its own mTLS connection with the stolen-but-valid mesh certificate; prints the outcomes.
const hboneAttacker = `
const tls = require('node:tls'); const http2 = require('node:http2'); const fs = require('node:fs');
const [dir, ip, ...authorities] = process.argv.slice(1);
const creds = { key: fs.readFileSync(dir + '/key.pem'), cert: fs.readFileSync(dir + '/cert.pem'), ca: fs.readFileSync(dir + '/root.pem') };
const one = (authority) => new Promise((resolve) => {
  let done = false; let status;
  const socket = tls.connect({ host: ip, port: 15008, ...creds, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
  const session = http2.connect('https://' + ip, { createConnection: () => socket });
  const finish = (error, body) => { if (done) return; done = true; clearTimeout(bound); session.destroy(); socket.destroy(); resolve({ authority, status, error, body }); };
  const bound = setTimeout(() => finish('no answer in 5 s'), 5000);
  socket.on('error', (e) => finish(e.code || e.message)); session.on('error', (e) => finish(e.code || e.message)); session.on('close', () => finish('closed'));
  const stream = session.request({ ':method': 'CONNECT', ':authority': authority });
  stream.on('error', (e) => finish(e.code || e.message));
  stream.on('response', (h) => {
    status = Number(h[':status']);
    if (status !== 200) return finish();
    let body = ''; stream.on('data', (c) => { body += c; if (body.includes('\\r\\n\\r\\n')) finish(undefined, body.split('\\r\\n')[0]); });
    stream.write('GET / HTTP/1.1\\r\\nhost: x\\r\\nconnection: close\\r\\n\\r\\n');
  });
});
(async () => { const out = []; for (const a of authorities) out.push(await one(a)); process.stdout.write(JSON.stringify(out)); })();
`;

// Run inside the attacker's netns: plaintext connections of several shapes to a port of a
// captured pod; an attempt is refused when not one byte of an answer comes back.
const plaintextAttacker = `
const net = require('node:net');
const [ip, ...ports] = process.argv.slice(1);
const payloads = ['GET / HTTP/1.1\\r\\nhost: server\\r\\n\\r\\n', 'POST /x HTTP/1.1\\r\\nhost: server\\r\\ncontent-length: 2\\r\\n\\r\\nhi', 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n', '\\x16\\x03\\x01\\x00\\x05hello', 'GET / HTTP/1.0\\r\\n\\r\\n'];
const one = (port, payload) => new Promise((resolve) => {
  let received = 0; let done = false;
  const s = net.connect(Number(port), ip, () => s.write(payload));
  const finish = (how) => { if (done) return; done = true; clearTimeout(bound); s.destroy(); resolve({ port, payload: payload.slice(0, 12), received, how }); };
  const bound = setTimeout(() => finish('open after 5 s'), 5000);
  s.on('data', (c) => { received += c.length; finish('answered'); }); s.on('error', (e) => finish(e.code || e.message)); s.on('close', () => finish('closed'));
});
(async () => { const out = []; for (const port of ports) for (const p of payloads) out.push(await one(port, p)); process.stdout.write(JSON.stringify(out)); })();
`;

describe('impersonation on the local cluster: a spoofed :authority, plaintext under STRICT', function () {
  this.timeout(60_000);
  let dataDir: string;
  let cluster: Cluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const ip = async (namespace: string, name: string): Promise<string> => (await core.readNamespacedPod({ name, namespace })).status!.podIP!;
  const netnsOf = (p: V1Pod): string => podNetns(cluster.network.clusterId, p.metadata!.uid!);
  const inPod = async (namespace: string, name: string, args: string[]) =>
    execInNetns(netnsOf(await core.readNamespacedPod({ name, namespace })), [process.execPath, ...args], { timeoutMs: 40_000 });
  const configDump = async (): Promise<any> =>
    JSON.parse(
      (
        await execInNetns(
          nodeNetns(cluster.network.clusterId, 1),
          [process.execPath, '-e', "fetch('http://127.0.0.1:15000/config_dump').then(r => r.text()).then(t => process.stdout.write(t))"],
          { timeoutMs: 10_000 },
        )
      ).stdout,
    );
  /** The healthy control: the mesh client's unmodified call to the server through ztunnel. */
  const healthyCall = async (): Promise<boolean> =>
    (await inPod('mesh', 'client', [echo, 'call', `http://${await ip('mesh', 'server')}:8080/`, '--timeout', '3000'])).code === 0;

  before(async function () {
    this.timeout(120_000);
    dataDir = mkdtempSync(join(tmpdir(), 'impersonation-e2e-'));
    cluster = await startCluster({ dataDir, nodes: 1, port: 0, controlPlane: [istiodProcess(dataDir, true)], logger: pino({ level: 'silent' }) });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    await applyManifests(cluster.kubeConfig, manifests as never, 'e2e');
    await deployZtunnel(cluster, { certTtlSeconds: 3600 });
    await until('all pods running', async () => {
      const all = [...(await core.listNamespacedPod({ namespace: 'mesh' })).items, ...(await core.listNamespacedPod({ namespace: 'plain' })).items];
      return all.length === 4 && all.every((p) => p.status?.phase === 'Running' && p.status.podIP);
    });
    const mesh = (await core.listNamespacedPod({ namespace: 'mesh' })).items.map((p) => p.metadata!.uid!);
    await until('the mesh pods captured', async () => {
      const captured: string[] = (await configDump()).captured.map((c: any) => c.uid);
      return mesh.every((uid) => captured.includes(uid));
    });
    await until('the healthy call succeeds', healthyCall);
    // The attacker's credentials: a real mesh certificate for mesh/client, from istiod-lite,
    // for a token the API server minted bound to the client pod (as a stolen one would be).
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: 'client',
      namespace: 'mesh',
      body: { spec: { audiences: ['istio-ca'], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'client' } } },
    });
    const rootCertPem = readFileSync(meshRootCertFile(dataDir), 'utf8');
    const ca = grpcCaClient({ address: `unix:${istiodSocket(dataDir)}`, rootCertPem, token: () => tokenRequest.status!.token! });
    const keyPem = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const chain = await ca.createCertificate(createCsr({ keyPem, uris: ['spiffe://cluster.local/ns/mesh/sa/client'] }), 3600, '');
    ca.close();
    writeFileSync(join(dataDir, 'key.pem'), keyPem);
    writeFileSync(join(dataDir, 'cert.pem'), chain.join(''));
    writeFileSync(join(dataDir, 'root.pem'), rootCertPem);
  });

  after(async () => {
    await cluster?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses every CONNECT to the server pod's 15008 whose :authority is not the pod itself, and relays the one that is", async () => {
    const [server, other, outsider] = [await ip('mesh', 'server'), await ip('mesh', 'other'), await ip('plain', 'outsider')];
    const vip = (await core.readNamespacedService({ name: 'server', namespace: 'mesh' })).spec!.clusterIP!;
    const spoofed = [
      `${other}:9000`, // another captured pod on the same node
      `${outsider}:9000`, // a pod outside the mesh
      `${vip}:80`, // the Service's VIP
      `127.0.0.1:8080`, // loopback inside the pod
      `127.0.0.1:15000`, // ztunnel's admin, from inside
      `0.0.0.0:8080`,
      `[::1]:8080`,
      `8.8.8.8:53`,
      `${server}:15001`, // ztunnel's own ports in the pod: would loop
      `${server}:15006`,
      `${server}:15008`,
      `${server}:15000`,
      `${server}:15020`,
      `${server}:15021`,
      `server.mesh.svc.cluster.local:80`, // not an ip:port
      `server:8080`,
      `${server}`, // no port
      `${server}:0`,
      `${server}:65536`,
      `${server}:8080@${other}:9000`,
      `${other}:8080`,
    ];
    const r = await inPod('plain', 'outsider', ['-e', hboneAttacker, dataDir, server, ...spoofed, `${server}:8080`]);
    assert.equal(r.code, 0, r.stderr);
    const outcomes: Array<{ authority: string; status?: number; error?: string; body?: string }> = JSON.parse(r.stdout);
    const control = outcomes.pop()!;
    assert.equal(control.status, 200, `the control CONNECT ${JSON.stringify(control)}`);
    assert.match(control.body ?? '', /^HTTP\/1\.1 200/, 'the app answered through the relay');
    // 400 from ztunnel's authorization; an authority that is not even a valid header value
    // ('@' in it) is reset by the HTTP/2 layer before ztunnel sees it: refused all the same.
    const refused = (o: (typeof outcomes)[number]): boolean => o.status === 400 || (o.status === undefined && o.error === 'ERR_HTTP2_STREAM_ERROR');
    const wrong = outcomes.filter((o) => !refused(o));
    assert.deepEqual(wrong, [], `${wrong.length} of ${outcomes.length} spoofed authorities were not refused`);
    const reset = outcomes.filter((o) => o.status === undefined).length;
    console.log(`      spoofed :authority: ${outcomes.length} of ${outcomes.length} refused (400 ${outcomes.length - reset}, stream reset ${reset})`);
    assert.ok(await healthyCall());
  });

  it('refuses every plaintext connection from outside the mesh under STRICT, and still serves the mesh client', async () => {
    const server = await ip('mesh', 'server');
    const other = await ip('mesh', 'other');
    const plaintext = (target: string, ports: number[]) => inPod('plain', 'outsider', ['-e', plaintextAttacker, target, ...ports.map(String)]);
    // Before STRICT the same attempts are answered: the refusal below is the policy's doing.
    const open = JSON.parse((await plaintext(server, [8080])).stdout) as Array<{ received: number }>;
    assert.ok(
      open.some((o) => o.received > 0),
      'no PeerAuthentication: plaintext is answered',
    );
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'mesh',
      plural: 'peerauthentications',
      body: { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICT' } } },
    });
    await until('plaintext refused under STRICT', async () => {
      const o = JSON.parse((await plaintext(server, [8080])).stdout) as Array<{ received: number }>;
      return o.every((x) => x.received === 0);
    });
    const outcomes = [...JSON.parse((await plaintext(server, [8080, 8081])).stdout), ...JSON.parse((await plaintext(other, [9000, 8080])).stdout)] as Array<{
      port: string;
      payload: string;
      received: number;
      how: string;
    }>;
    const answered = outcomes.filter((o) => o.received > 0 || o.how === 'open after 5 s');
    assert.deepEqual(answered, [], `${answered.length} of ${outcomes.length} plaintext attempts were answered or held open`);
    assert.ok(outcomes.length >= 20);
    console.log(`      plaintext under STRICT: ${outcomes.length} of ${outcomes.length} refused (${[...new Set(outcomes.map((o) => o.how))].join(', ')})`);
    assert.ok(await healthyCall(), 'the mesh client still gets through');
  });
});
