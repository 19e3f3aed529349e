// Test fixture for the kube/status/waypoint tests: the local cluster's embedded API server in a
// temp dir, a client-node KubeConfig for it, the real kubectl, and a bounded poll.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';

export const silent: Logger = pino({ level: 'silent' });

export interface EmbeddedApi {
  dataDir: string;
  server: ApiServer;
  kc: KubeConfig;
  close(): Promise<void>;
}

export async function startEmbeddedApi(): Promise<EmbeddedApi> {
  const dataDir = mkdtempSync(join(tmpdir(), 'istiod-kube-'));
  const fixture: EmbeddedApi = {
    dataDir,
    server: await startApiServer({ dataDir, port: 0, logger: silent }),
    kc: new KubeConfig(),
    async close() {
      await fixture.server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  fixture.kc.loadFromFile(fixture.server.kubeconfigPath);
  return fixture;
}

/** The API server in a child process that can be killed (SIGKILL) and started again on the same port and data. */
export interface ApiProcess {
  dataDir: string;
  url: string;
  kc: KubeConfig;
  kill(): Promise<void>;
  /** Starts a new server process on the same port and data directory (after kill()). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startApiProcess(): Promise<ApiProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'istiod-kube-proc-'));
  let child: ChildProcess | undefined;
  const spawnServer = async (port: number): Promise<string> => {
    child = spawn(process.execPath, [join(import.meta.dirname, 'api-server-process.ts'), dataDir, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await Promise.race([
      once(createInterface({ input: child.stdout! }), 'line'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`api server process exited with ${String(code)}`);
      }),
    ])) as string[];
    return (JSON.parse(line!) as { url: string }).url;
  };
  const kill = async (): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  const url = await spawnServer(0);
  const proc: ApiProcess = {
    dataDir,
    url,
    kc: new KubeConfig(),
    kill,
    async restart() {
      await kill();
      await spawnServer(Number(new URL(url).port));
    },
    async close() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  proc.kc.loadFromFile(join(dataDir, 'kubeconfig'));
  return proc;
}

const kubectlBinary = resolve(import.meta.dirname, '../../../.cache/kubectl/v1.34/kubectl');

/** Runs the real kubectl against the fixture; resolves with its output, never rejects on exit code. */
export function kubectl(api: EmbeddedApi, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(
      kubectlBinary,
      args,
      { env: { PATH: '/usr/bin:/bin', HOME: api.dataDir, KUBECONFIG: api.server.kubeconfigPath }, timeout: 20_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input ?? '');
  });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after timeoutMs. */
export async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}
