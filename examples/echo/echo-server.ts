// The echo app's server side: HTTP that describes the pod and the request it received (what
// a mesh test needs to see who answered and what arrived), plus an optional raw TCP echo and
// gRPC service.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { GrpcEchoServer } from './echo-grpc-server.ts';
import { FailureSchedule, RequestStats } from './echo-stats.ts';

export const MAX_DELAY_MS = 60_000;
// In-flight requests get this long to finish after SIGTERM before connections are cut.
export const DRAIN_MS = 5_000;

export interface PodInfo {
  pod: string;
  namespace: string;
  node: string;
  podIp: string;
  /** From VERSION: what canary tests count replies by (v1, v2). */
  version: string;
}

export type ResponsePlan =
  | { kind: 'health' }
  | { kind: 'stats' }
  | { kind: 'stats-reset' }
  | { kind: 'echo'; status: number; delayMs: number }
  | { kind: 'fail'; percent: number; status: number }
  | { kind: 'bad-request'; error: string };

/**
 * What to answer for a path: /healthz, /stats, /stats/reset, /status/<code>, /delay/<ms>,
 * /fail/<percent>[/<code>]; anything else echoes 200.
 */
export function planResponse(pathname: string): ResponsePlan {
  if (pathname === '/healthz') return { kind: 'health' };
  if (pathname === '/stats' || pathname === '/stats/') return { kind: 'stats' };
  if (pathname === '/stats/reset' || pathname === '/stats/reset/') return { kind: 'stats-reset' };
  const status = /^\/status\/([^/]*)\/?$/.exec(pathname);
  if (status) {
    const code = statusCode(status[1]!);
    if (code === undefined) return { kind: 'bad-request', error: `status must be 200..599, got ${JSON.stringify(status[1])}` };
    return { kind: 'echo', status: code, delayMs: 0 };
  }
  const delay = /^\/delay\/([^/]*)\/?$/.exec(pathname);
  if (delay) {
    const ms = /^\d+$/.test(delay[1]!) ? Number(delay[1]) : NaN;
    if (!(ms <= MAX_DELAY_MS)) return { kind: 'bad-request', error: `delay must be 0..${MAX_DELAY_MS} ms, got ${JSON.stringify(delay[1])}` };
    return { kind: 'echo', status: 200, delayMs: ms };
  }
  const fail = /^\/fail\/([^/]*)(?:\/([^/]+))?\/?$/.exec(pathname);
  if (fail) {
    const percent = /^\d{1,3}$/.test(fail[1]!) ? Number(fail[1]) : NaN;
    if (!(percent <= 100)) return { kind: 'bad-request', error: `fail percent must be 0..100, got ${JSON.stringify(fail[1])}` };
    const code = fail[2] === undefined ? 503 : statusCode(fail[2]);
    if (code === undefined) return { kind: 'bad-request', error: `fail status must be 200..599, got ${JSON.stringify(fail[2])}` };
    return { kind: 'fail', percent, status: code };
  }
  // A typo under /fail/ must not quietly answer 200 to a test that expects failures.
  if (pathname.startsWith('/fail/')) return { kind: 'bad-request', error: `expected /fail/<percent>[/<code>], got ${JSON.stringify(pathname)}` };
  return { kind: 'echo', status: 200, delayMs: 0 };
}

function statusCode(text: string): number | undefined {
  const code = /^\d{3}$/.test(text) ? Number(text) : NaN;
  return code >= 200 && code <= 599 ? code : undefined;
}

/** The server's own endpoints are not traffic under test: /stats must not count itself. */
function counted(plan: ResponsePlan): boolean {
  return plan.kind !== 'health' && plan.kind !== 'stats' && plan.kind !== 'stats-reset';
}

export function podInfoFromEnv(env: NodeJS.ProcessEnv): PodInfo {
  return { pod: env.POD_NAME ?? '', namespace: env.POD_NAMESPACE ?? '', node: env.NODE_NAME ?? '', podIp: env.POD_IP ?? '', version: env.VERSION ?? '' };
}

export interface EchoServer {
  port: number;
  tcpPort?: number;
  grpcPort?: number;
  close(): Promise<void>;
}

export async function startEchoServer(opts: {
  port: number;
  host: string;
  tcpPort?: number;
  grpcPort?: number;
  /** Added to every echoed answer (`serve --delay`). */
  delayMs?: number;
  /** The status of every echoed answer (`serve --fail-status`). */
  failStatus?: number;
  pod: PodInfo;
  log: (line: Record<string, unknown>) => void;
}): Promise<EchoServer> {
  const timers = new Set<NodeJS.Timeout>();
  const stats = new RequestStats();
  const failures = new FailureSchedule();
  const server = http.createServer((req, res) => {
    const started = performance.now();
    const pathname = new URL(req.url ?? '/', 'http://echo').pathname;
    const plan = planResponse(pathname);
    // Counted on arrival, so a request the client gives up on (a proxy's timeout) still shows.
    if (counted(plan)) stats.record(pathname);
    const planned = plan.kind === 'fail' ? (failures.next(plan.percent) ? plan.status : 200) : plan.kind === 'echo' ? plan.status : 200;
    const answer = counted(plan) && opts.failStatus !== undefined ? opts.failStatus : planned;
    const finish = (status: number, body: string, type: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
      res.end(body);
      opts.log({
        msg: 'request',
        method: req.method,
        url: req.url,
        status,
        remoteAddress: req.socket.remoteAddress,
        durationMs: Math.round(performance.now() - started),
      });
    };
    const json = (status: number, value: unknown, headers?: Record<string, string>): void =>
      finish(status, JSON.stringify(value) + '\n', 'application/json', headers);
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    // A client that goes away mid-body is its own business; an unhandled 'error' would end the server.
    req.on('error', () => undefined);
    req.on('end', () => {
      if (plan.kind === 'health') return finish(200, 'ok\n', 'text/plain');
      if (plan.kind === 'bad-request') return json(400, { error: plan.error });
      if (plan.kind === 'stats') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: `/stats answers GET, got ${req.method}` }, { allow: 'GET, HEAD' });
        return json(200, stats.snapshot(opts.pod.pod, opts.pod.version));
      }
      if (plan.kind === 'stats-reset') {
        if (req.method !== 'POST') return json(405, { error: `/stats/reset answers POST, got ${req.method}` }, { allow: 'POST' });
        const cleared = stats.snapshot(opts.pod.pod, opts.pod.version);
        stats.reset();
        failures.reset();
        return json(200, cleared);
      }
      const body = {
        ...opts.pod,
        method: req.method,
        host: req.headers.host ?? '',
        url: req.url,
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress,
        bodyBytes,
      };
      const delayMs = (plan.kind === 'echo' ? plan.delayMs : 0) + (opts.delayMs ?? 0);
      if (delayMs === 0) return json(answer, body);
      const timer = setTimeout(() => {
        timers.delete(timer);
        json(answer, body);
      }, delayMs);
      timers.add(timer);
      // A caller that gives up must not keep a timer (and the process) alive.
      res.on('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
    });
  });
  const tcp =
    opts.tcpPort === undefined
      ? undefined
      : net.createServer((socket) => {
          socket.on('error', () => socket.destroy());
          socket.pipe(socket);
        });
  await listen(server, opts.port, opts.host);
  const closeHttp = (): Promise<unknown> => new Promise((resolve) => server.close(resolve));
  if (tcp)
    await listen(tcp, opts.tcpPort!, opts.host).catch(async (err: unknown) => {
      await closeHttp();
      throw err;
    });
  let grpc: GrpcEchoServer | undefined;
  if (opts.grpcPort !== undefined) {
    // Loaded only when asked for: grpc-js and the proto parser cost every other pod start time.
    const { startGrpcEchoServer } = await import('./echo-grpc-server.ts');
    grpc = await startGrpcEchoServer({ port: opts.grpcPort, host: opts.host, pod: opts.pod, stats, log: opts.log }).catch(async (err: unknown) => {
      tcp?.close();
      await closeHttp();
      throw err;
    });
  }
  const result: EchoServer = {
    port: (server.address() as AddressInfo).port,
    async close() {
      tcp?.close();
      server.closeIdleConnections();
      const closed = Promise.all([closeHttp(), grpc?.close()]);
      // A pending /delay answer may wait up to a minute, longer than a kubelet's grace period:
      // cut what is still open after the drain time (closing a response clears its timer).
      const drain = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
      await closed;
      clearTimeout(drain);
    },
  };
  if (tcp) result.tcpPort = (tcp.address() as AddressInfo).port;
  if (grpc) result.grpcPort = grpc.port;
  return result;
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
}
