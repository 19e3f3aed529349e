// istiod-lite at scale: N pods and S services in ambient namespaces, W simulated ztunnel
// subscribers. Reports initial sync time, the time for one pod change to reach every
// subscriber (p50/p99), istiod-lite's memory, and certificates signed per second. The API
// server and istiod-lite each run in their own process; subscribers run in this one, and read
// only names and versions (light-subscriber.ts: a payload is decoded only for the pod whose change
// is timed). The goals beside the figures are the performance issue's.
//
//   npm run bench -- istiod
//   node benchmarks/src/istiod-scale.ts --pods 10000 --services 1000 --subscribers 100 --changes 30 --certs 500 [--json FILE|-]
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createCsr, type Address } from '@ambient/api';
import { CertificateServiceClient } from '@ambient/api/grpc';
import { componentCommand } from '@ambient/local-cluster/components';
import { benchResult, humanOutput, writeBenchResult } from './bench-output.ts';
import { type BenchRow, benchRow, renderBenchTable } from './bench-result.ts';
import { LightSubscriber } from './light-subscriber.ts';
import { benchFlags } from './number-flags.ts';

const { flags, json } = benchFlags({ pods: 10000, services: 1000, subscribers: 100, changes: 30, certs: 500 });
const { pods: podCount, services: serviceCount, subscribers: subscriberCount, changes: changeCount, certs: certCount } = flags;
/** The performance issue's goals for istiod (at 10 000 pods, 1 000 services, 100 subscribers). */
const goals = { rssMiB: 300, initialSyncSeconds: 6, changeP99Ms: 100, certsPerSecond: 1500 };
const namespaces = Math.max(1, Math.ceil(podCount / 1000));
const addressType = 'type.googleapis.com/ambient.workload.v1.Address';

const dataDir = mkdtempSync(join(tmpdir(), 'bench-istiod-'));
const children: ChildProcess[] = [];
const rows: BenchRow[] = [];
const problems: string[] = [];

function startProcess(script: string[], args: string[], readyRe: RegExp): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((ready, fail) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => readyRe.test(l));
      if (line) ready({ child, line: JSON.parse(line) });
    });
    child.once('exit', (code) => fail(new Error(`${script} exited with ${code}`)));
  });
}
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

try {
  const api = await startProcess([join(import.meta.dirname, 'apiserver-process.ts')], [dataDir], /"url"/);
  const { url, token: adminToken, ca: apiCa } = api.line as { url: string; token: string; ca: string };
  const agent = new Agent({ keepAlive: true, maxSockets: 32, ca: apiCa });
  // biome-ignore lint/suspicious/noExplicitAny: the API server's untyped JSON, read field by field below
  const call = (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> =>
    new Promise((done, fail) => {
      const req = request(url + path, { method, agent, headers: { authorization: `Bearer ${adminToken}`, 'content-type': contentType } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 500) >= 300) fail(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else done(JSON.parse(text));
        });
      });
      req.on('error', fail);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const pooled = async (n: number, fn: (i: number) => Promise<unknown>): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) await fn(next++);
      }),
    );
  };

  // The cluster: namespaces in the mesh, services, pods (Running, with IPs) spread over 2 nodes.
  let t = performance.now();
  for (let n = 0; n < namespaces; n++)
    await call('POST', '/api/v1/namespaces', { metadata: { name: `ns-${n}`, labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  await call('POST', '/api/v1/namespaces', { metadata: { name: 'istio-system' } });
  await pooled(serviceCount, (i) =>
    call('POST', `/api/v1/namespaces/ns-${i % namespaces}/services`, {
      metadata: { name: `svc-${i}` },
      spec: { selector: { app: `app-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    }),
  );
  await pooled(podCount, async (i) => {
    const ns = `ns-${(i % serviceCount) % namespaces}`;
    const pod = await call('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: `pod-${i}`, labels: { app: `app-${i % serviceCount}` } },
      spec: { nodeName: `node-${(i % 2) + 1}`, containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
    });
    pod.status = {
      phase: 'Running',
      podIP: `10.${64 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`,
      conditions: [{ type: 'Ready', status: 'True' }],
    };
    await call('PUT', `/api/v1/namespaces/${ns}/pods/pod-${i}/status`, pod);
  });
  rows.push(benchRow(`setup: ${podCount} running pods, ${serviceCount} services in ${namespaces} ambient namespaces`, 's', (performance.now() - t) / 1000));

  // istiod-lite, in its own process.
  t = performance.now();
  const istiod = await startProcess(
    // Compiled, as the cluster runs it.
    componentCommand('istiod-lite').slice(1),
    [
      '--kubeconfig',
      join(dataDir, 'kubeconfig'),
      '--host',
      '127.0.0.1',
      '--grpc-port',
      '0',
      '--metrics-port',
      '0',
      '--webhook-port',
      '0',
      '--install-crds',
      '--allow-test-proxies',
      '--log-level',
      'warn',
    ],
    /"msg":"ready"/,
  );
  rows.push(benchRow('istiod-lite start (CRDs, CA, informers list everything, first model)', 's', (performance.now() - t) / 1000));
  const grpcAddress = String(istiod.line.grpc);
  const root = (
    await call('GET', '/api/v1/namespaces/istio-system/configmaps/istio-ca-root-cert').catch(async () => {
      await new Promise((r) => setTimeout(r, 500));
      return call('GET', '/api/v1/namespaces/istio-system/configmaps/istio-ca-root-cert');
    })
  ).data['root-cert.pem'] as string;

  // Each subscriber is its own caller with its own ServiceAccount token, as each ztunnel is (one
  // shared caller would meet istiod-lite's cap on streams per caller, 64 by default).
  const subTokens = await Promise.all(
    Array.from({ length: subscriberCount }, async (_, i) => {
      await call('POST', '/api/v1/namespaces/istio-system/serviceaccounts', { metadata: { name: `bench-${i}` } });
      return (
        await call('POST', `/api/v1/namespaces/istio-system/serviceaccounts/bench-${i}/token`, { spec: { expirationSeconds: 7200, audiences: ['istio-ca'] } })
      ).status.token as string;
    }),
  );
  const expected = podCount + serviceCount;
  t = performance.now();
  const clients = Array.from(
    { length: subscriberCount },
    (_, i) =>
      new LightSubscriber({
        address: grpcAddress,
        rootCertPem: root,
        token: subTokens[i]!,
        node: { id: `bench~${i}`, type: 'test', nodeName: `node-${(i % 2) + 1}` },
        typeUrl: addressType,
      }),
  );
  const deadline = Date.now() + 300_000;
  while (clients.some((c) => c.versions.size < expected && !c.failure) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const synced = clients.filter((c) => c.versions.size >= expected).length;
  for (const c of clients) if (c.failure) problems.push(`a subscriber's stream failed: ${c.failure.message}`);
  const syncSeconds = (performance.now() - t) / 1000;
  // A sync that did not complete has no time to report.
  if (synced < subscriberCount) problems.push(`${subscriberCount - synced} of ${subscriberCount} subscribers not synced in 300 s`);
  rows.push(
    benchRow(`initial sync: ${subscriberCount} subscribers × ${expected} resources`, 's', synced === subscriberCount ? syncSeconds : null, {
      goal: { op: '<=', limit: goals.initialSyncSeconds },
    }),
    benchRow('subscribers with every resource', '', synced),
    benchRow('istiod-lite RSS after the sync', 'MiB', rssMiB(istiod.child.pid!), { goal: { op: '<=', limit: goals.rssMiB } }),
    benchRow('API server RSS after the sync', 'MiB', rssMiB(api.child.pid!)),
  );

  // One pod change at a time: a new version label changes its canonical revision.
  const latencies: number[] = [];
  let missed = 0;
  for (let k = 0; k < changeCount; k++) {
    const i = (k * 7919) % podCount;
    const ns = `ns-${(i % serviceCount) % namespaces}`;
    const pod = await call('GET', `/api/v1/namespaces/${ns}/pods/pod-${i}`);
    const revision = `r${k}`;
    for (const c of clients) c.watch(pod.metadata.uid);
    const sent = performance.now();
    await call('PATCH', `/api/v1/namespaces/${ns}/pods/pod-${i}`, { metadata: { labels: { version: revision } } }, 'application/merge-patch+json');
    const uid = pod.metadata.uid as string;
    const seen = (c: LightSubscriber): boolean => (c.payload(uid) as Address | undefined)?.workload?.canonicalRevision === revision;
    // Checked as updates arrive (a polling loop would take a core from istiod-lite and the API server).
    const delivered = await new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (!clients.every(seen)) return;
        settle(true);
      };
      const timer = setTimeout(() => settle(false), 30_000);
      const settle = (ok: boolean): void => {
        clearTimeout(timer);
        for (const c of clients) c.off('update', check);
        resolve(ok);
      };
      for (const c of clients) c.on('update', check);
      check();
    });
    if (delivered) latencies.push(performance.now() - sent);
    else missed++;
  }
  const change = `one pod change → all ${subscriberCount} subscribers (${changeCount} changes)`;
  rows.push(
    benchRow(`${change}, p50`, 'ms', latencies.length ? pct(latencies, 50) : null),
    benchRow(`${change}, p99`, 'ms', latencies.length ? pct(latencies, 99) : null, { goal: { op: '<=', limit: goals.changeP99Ms } }),
    benchRow('changes not delivered to every subscriber in 30 s', '', missed),
  );
  if (missed > 0) problems.push(`${missed} of ${changeCount} pod changes not delivered to every subscriber in 30 s`);
  for (const c of clients) c.close();

  // Certificates: ztunnel on node-1 asking for a workload identity with a pod on node-1.
  await call('POST', '/api/v1/namespaces/istio-system/serviceaccounts', { metadata: { name: 'ztunnel' } });
  const zpod = await call('POST', '/api/v1/namespaces/istio-system/pods', {
    metadata: { name: 'ztunnel-node-1' },
    spec: { nodeName: 'node-1', serviceAccountName: 'ztunnel', containers: [{ name: 'z', image: 'x' }] },
  });
  zpod.status = { phase: 'Running' };
  await call('PUT', '/api/v1/namespaces/istio-system/pods/ztunnel-node-1/status', zpod);
  const ztoken = (
    await call('POST', '/api/v1/namespaces/istio-system/serviceaccounts/ztunnel/token', {
      spec: {
        expirationSeconds: 7200,
        audiences: ['istio-ca'],
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'ztunnel-node-1', uid: zpod.metadata.uid },
      },
    })
  ).status.token as string;
  const identity = 'spiffe://cluster.local/ns/ns-0/sa/default';
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const csr = createCsr({ keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, uris: [identity] });
  const caClient = new CertificateServiceClient(grpcAddress, grpc.credentials.createSsl(Buffer.from(root)), {
    'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    'grpc.default_authority': 'istiod.istio-system.svc',
  });
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${ztoken}`);
  const sign = (): Promise<void> =>
    new Promise((done, fail) =>
      caClient.CreateCertificate({ csr, validityDuration: 3600, impersonatedIdentity: identity }, md, (err) => (err ? fail(err) : done())),
    );
  await sign(); // warm: token review cached
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < certCount) await sign();
    }),
  );
  const certSeconds = (performance.now() - t) / 1000;
  rows.push(
    benchRow(`certificates signed (${certCount}, 16 in flight, ECDSA P-256)`, 'certs/s', certCount / certSeconds, {
      goal: { op: '>=', limit: goals.certsPerSecond },
    }),
  );
  caClient.close();
  agent.destroy();
} catch (err) {
  problems.push(String(err));
  console.error(err);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  rmSync(dataDir, { recursive: true, force: true });
}
humanOutput(json)(
  renderBenchTable(
    { rows, problems },
    { title: `\nistiod-lite at scale (loopback; API server, istiod-lite and the ${subscriberCount} subscribers in 3 processes; node ${process.version})` },
  ),
);
writeBenchResult(benchResult('istiod', flags, rows, problems), json);
process.exit(problems.length ? 1 : 0);
