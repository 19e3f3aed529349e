// The real control plane for the fuzz targets that need one: the embedded API server in this
// process and istiod-lite as its own process (`istiod-lite/src/main.ts`, as it runs), both on
// 127.0.0.1 with ephemeral ports, plus ServiceAccount tokens for the callers the fuzzers play.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { FuzzFailure } from './fuzz-harness.ts';
import { componentCommand } from '@ambient/local-cluster/components';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface ManagedProcess {
  child: ChildProcess;
  /** What its `ready` line said. */
  ready: Record<string, string>;
  /** Its stderr and non-ready stdout lines (pino's logs), newest last, at most 200. */
  output: string[];
  /** Lines of output matching each key's pattern, counted over the whole run. */
  counts: Map<RegExp, number>;
  /** Set once it exited: a crash unless stop() asked for it. */
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

/** Spawns one of the mesh's binaries and waits for its `ready` line. */
export function startBinary(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ManagedProcess> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const counts = new Map<RegExp, number>();
  const keep = (line: string): void => {
    for (const [re, n] of counts) if (re.test(line)) counts.set(re, n + 1);
    output.push(line);
    if (output.length > 200) output.shift();
  };
  const proc: ManagedProcess = {
    child,
    ready: {},
    output,
    counts,
    exited: undefined,
    async stop() {
      if (proc.exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
  child.once('exit', (code, signal) => {
    proc.exited = { code, signal };
  });
  createInterface({ input: child.stderr! }).on('line', keep);
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new FuzzFailure(`${name} printed no ready line in 30 s: ${output.slice(-5).join('\n')}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new FuzzFailure(`${name} exited (${code}) before it was ready: ${output.slice(-10).join('\n')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"msg":"ready"')) {
        clearTimeout(timer);
        proc.ready = JSON.parse(line);
        resolveReady(proc);
      } else keep(line);
    });
  });
}

export interface ControlPlane {
  dataDir: string;
  api: ApiServer;
  istiod: ManagedProcess;
  /** istiod-lite's gRPC address (host:port) and the mesh root its serving certificate chains to. */
  grpcAddress: string;
  rootCertPem: string;
  /** The admin's view of the API server (JSON over HTTPS). */
  kube(method: string, path: string, body?: unknown): Promise<any>;
  /** A TokenRequest token for `namespace/sa`, bound to a pod when given. */
  token(namespace: string, sa: string, pod?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fuzz-mesh-'));
  const api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
  const kube = async (method: string, path: string, body?: unknown): Promise<any> => {
    return new Promise((done, fail) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        `${api.url}${path}`,
        { method, ca: api.caCertPem, headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const parsed = JSON.parse(Buffer.concat(chunks).toString() || 'null');
            if ((res.statusCode ?? 500) >= 300) fail(new FuzzFailure(`${method} ${path}: ${res.statusCode} ${JSON.stringify(parsed).slice(0, 300)}`));
            else done(parsed);
          });
        },
      );
      req.on('error', fail);
      req.end(data);
    });
  };
  let istiod: ManagedProcess | undefined;
  try {
    istiod = await startBinary('istiod-lite', [
      ...componentCommand('istiod-lite').slice(1),
      '--kubeconfig',
      api.kubeconfigPath,
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
      '--identity',
      'fuzz',
      '--log-level',
      'warn',
    ]);
    const grpcAddress = istiod.ready.grpc!;
    let rootCertPem = '';
    for (let i = 0; i < 200 && rootCertPem === ''; i++) {
      const cm = await kube('GET', '/api/v1/namespaces/default/configmaps').then((l) => l.items.find((c: any) => c.metadata.name === 'istio-ca-root-cert'));
      rootCertPem = cm?.data?.['root-cert.pem'] ?? '';
      if (rootCertPem === '') await new Promise((r) => setTimeout(r, 50));
    }
    if (rootCertPem === '') throw new FuzzFailure('istiod-lite published no istio-ca-root-cert in 10 s');
    const started = istiod;
    return {
      dataDir,
      api,
      istiod: started,
      grpcAddress,
      rootCertPem,
      kube,
      // The audience istiod-lite reviews tokens for (its --token-audiences default), as a projected token carries.
      async token(namespace, sa, pod) {
        const body = {
          spec: { audiences: ['istio-ca'], expirationSeconds: 3600, ...(pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod } } : {}) },
        };
        return (await kube('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, body)).status.token;
      },
      async close() {
        await started.stop();
        await api.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await istiod?.stop();
    await api.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Creates a namespace, ServiceAccount and (optionally) a Running pod on `node`, ignoring "exists". */
export async function ensureWorkload(
  cp: ControlPlane,
  opts: { namespace: string; sa: string; pod?: string; node?: string; ip?: string; labels?: Record<string, string> },
): Promise<void> {
  const tolerate = (p: Promise<unknown>) => p.catch((err: Error) => (/ 409 /.test(err.message) ? undefined : Promise.reject(err)));
  await tolerate(cp.kube('POST', '/api/v1/namespaces', { metadata: { name: opts.namespace } }));
  await tolerate(cp.kube('POST', `/api/v1/namespaces/${opts.namespace}/serviceaccounts`, { metadata: { name: opts.sa } }));
  if (opts.pod === undefined) return;
  const pod = await cp.kube('POST', `/api/v1/namespaces/${opts.namespace}/pods`, {
    metadata: { name: opts.pod, labels: opts.labels ?? {} },
    spec: {
      nodeName: opts.node ?? 'node-1',
      serviceAccountName: opts.sa,
      containers: [{ name: 'app', image: 'app', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
  pod.status = { phase: 'Running', podIP: opts.ip ?? '10.244.1.9', podIPs: [{ ip: opts.ip ?? '10.244.1.9' }], conditions: [{ type: 'Ready', status: 'True' }] };
  await cp.kube('PUT', `/api/v1/namespaces/${opts.namespace}/pods/${opts.pod}/status`, pod);
}
