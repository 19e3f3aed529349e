// A real redis-server for tests (the waypoint's global rate limits, the e2e tests): its own temp
// directory, no persistence, on 127.0.0.1 with a free port. Tests crash it (`kill`, SIGKILL),
// freeze it (`pause`, SIGSTOP: a Redis that accepts bytes and never answers, the slow case) and
// bring it back on the same port (`restart`), which is what a client's reconnect logic meets in
// production. Nothing is mocked: the binary must be installed, and its absence is an error that
// says so rather than a skipped test.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshError } from '../errors.ts';

export class RedisServerError extends MeshError<'ERR_TEST_REDIS_SERVER'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TEST_REDIS_SERVER', message, options);
  }
}

export interface RedisServerOptions {
  /** The binary; default `redis-server` from PATH. */
  binary?: string;
  /** How long to wait for "Ready to accept connections"; default 10 s. */
  readyTimeoutMs?: number;
}

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** "127.0.0.1:<port>", as `--redis-address` and `spec.store.address` take it. */
  readonly address: string;
  /** Whether the process is running (paused counts as running). */
  readonly running: boolean;
  /** SIGTERM, wait for the exit; removes the temp directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: connections reset, nothing flushed), wait for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing until `resume`. */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
  /** Starts it again on the same port (stopping it first if it runs), empty. */
  restart(): Promise<void>;
}

/** Servers not yet stopped, so that a test process that dies does not leave them running. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** A port the kernel just gave out: free now, and very likely still free a moment later. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new RedisServerError(`unexpected listen address ${String(address)}`);
  return address.port;
}

/** Starts redis-server on 127.0.0.1 and a free port; rejects with a clear error if it cannot. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? 'redis-server';
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  installExitHook();
  // Another process can take the port between freePort() and redis binding it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'ambient-redis-'));
    try {
      const child = await launch(binary, port, dir, readyTimeoutMs);
      return new RunningRedis(binary, port, dir, child, readyTimeoutMs);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      lastError = err;
      if (!(err instanceof PortInUse)) throw err;
    }
  }
  throw new RedisServerError('redis-server could not bind a free port on 127.0.0.1 in 5 attempts', { cause: lastError });
}

class PortInUse extends RedisServerError {}

function launch(binary: string, port: number, dir: string, readyTimeoutMs: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', '', '--daemonize', 'no'];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise<ChildProcess>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      done();
      child.kill('SIGKILL');
      reject(new RedisServerError(`redis-server on 127.0.0.1:${port} not ready after ${readyTimeoutMs}ms; its log:\n${log}`));
    }, readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (log.includes('Ready to accept connections')) {
        done();
        live.add(child);
        child.once('exit', () => live.delete(child));
        // Keep draining its output so a chatty server never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    const onError = (err: NodeJS.ErrnoException) => {
      done();
      reject(
        err.code === 'ENOENT'
          ? new RedisServerError(`${binary} not found on PATH: install Redis (Debian/Ubuntu: apt-get install redis-server) to run these tests`, { cause: err })
          : new RedisServerError(`${binary} could not be started: ${err.message}`, { cause: err }),
      );
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      done();
      const message = `redis-server on 127.0.0.1:${port} exited (${signal ?? `code ${code}`}) before it was ready; its log:\n${log}`;
      reject(/Address already in use/.test(log) ? new PortInUse(message) : new RedisServerError(message));
    };
    function done(): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('error', onError);
      child.off('exit', onExit);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

class RunningRedis implements RedisServer {
  readonly host = '127.0.0.1' as const;
  readonly port: number;
  readonly address: string;
  readonly #binary: string;
  readonly #readyTimeoutMs: number;
  #dir: string | undefined;
  #child: ChildProcess | undefined;

  constructor(binary: string, port: number, dir: string, child: ChildProcess, readyTimeoutMs: number) {
    this.#binary = binary;
    this.port = port;
    this.address = `127.0.0.1:${port}`;
    this.#dir = dir;
    this.#child = child;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async stop(): Promise<void> {
    await this.#end('SIGTERM');
    if (this.#dir !== undefined) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  kill(): Promise<void> {
    return this.#end('SIGKILL');
  }

  pause(): void {
    if (this.#child === undefined) throw new RedisServerError(`redis-server ${this.address} is not running: nothing to pause`);
    this.#child.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.#end('SIGTERM');
    this.#dir ??= await mkdtemp(join(tmpdir(), 'ambient-redis-'));
    // Redis binds with SO_REUSEADDR, so the port is free as soon as the old process is gone.
    this.#child = await launch(this.#binary, this.port, this.#dir, this.#readyTimeoutMs);
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    const gone = exited(child);
    // A paused process would not act on SIGTERM until continued.
    child.kill('SIGCONT');
    child.kill(signal);
    await gone;
  }
}
