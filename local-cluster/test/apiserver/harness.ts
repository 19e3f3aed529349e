// Shared test setup: a real API server on an ephemeral port in a temp dir, an HTTPS client
// that trusts its CA, and a runner for the real kubectl binaries.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/apiserver/index.ts';

export const KUBECTL_VERSIONS = ['v1.20', 'v1.34'] as const;

export function kubectlPath(version: string): string {
  return resolve(import.meta.dirname, '../../../.cache/kubectl', version, 'kubectl');
}

export interface TestServer {
  server: ApiServer;
  dataDir: string;
  /** Restarts on the same data dir and port. */
  restart(): Promise<ApiServer>;
  cleanup(): Promise<void>;
}

export async function startTestServer(opts: Partial<ApiServerOptions> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'apiserver-test-'));
  const t: TestServer = {
    server: await startApiServer({ dataDir, port: 0, ...opts }),
    dataDir,
    async restart() {
      await t.server.close();
      t.server = await startApiServer({ dataDir, ...opts, port: Number(new URL(t.server.url).port) });
      return t.server;
    },
    async cleanup() {
      await t.server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One HTTPS request to the server (admin token unless `token` is given; '' = none). */
export function call(
  server: ApiServer,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string; contentType?: string; accept?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const url = new URL(path, server.url);
  const token = opts.token ?? server.adminToken;
  const headers: Record<string, string> = { ...opts.headers };
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.accept) headers.accept = opts.accept;
  let payload: Buffer | undefined;
  if (body !== undefined) {
    payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method, headers, ca: server.caCertPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`request ${method} ${path} timed out`)));
    req.end(payload);
  });
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a real kubectl against the server; never throws for a non-zero exit. */
export function kubectl(version: string, server: ApiServer, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      kubectlPath(version),
      args,
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(server.kubeconfigPath, '..'), KUBECONFIG: server.kubeconfigPath },
        timeout: opts.timeoutMs ?? 20_000,
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
