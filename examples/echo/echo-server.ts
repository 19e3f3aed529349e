// The echo app's server side: HTTP that describes the pod and the request it received (what
// a mesh test needs to see who answered and what arrived), plus an optional raw TCP echo.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export const MAX_DELAY_MS = 60_000;
// In-flight requests get this long to finish after SIGTERM before connections are cut.
const DRAIN_MS = 5_000;

export interface PodInfo {
  pod: string;
  namespace: string;
  node: string;
  podIp: string;
}

export type ResponsePlan = { kind: 'health' } | { kind: 'echo'; status: number; delayMs: number } | { kind: 'bad-request'; error: string };

/** What to answer for a path: /healthz, /status/<code>, /delay/<ms>, anything else echoes 200. */
export function planResponse(pathname: string): ResponsePlan {
  if (pathname === '/healthz') return { kind: 'health' };
  const status = /^\/status\/([^/]*)\/?$/.exec(pathname);
  if (status) {
    const code = /^\d{3}$/.test(status[1]!) ? Number(status[1]) : NaN;
    if (!(code >= 200 && code <= 599)) return { kind: 'bad-request', error: `status must be 200..599, got ${JSON.stringify(status[1])}` };
    return { kind: 'echo', status: code, delayMs: 0 };
  }
  const delay = /^\/delay\/([^/]*)\/?$/.exec(pathname);
  if (delay) {
    const ms = /^\d+$/.test(delay[1]!) ? Number(delay[1]) : NaN;
    if (!(ms <= MAX_DELAY_MS)) return { kind: 'bad-request', error: `delay must be 0..${MAX_DELAY_MS} ms, got ${JSON.stringify(delay[1])}` };
    return { kind: 'echo', status: 200, delayMs: ms };
  }
  return { kind: 'echo', status: 200, delayMs: 0 };
}

export function podInfoFromEnv(env: NodeJS.ProcessEnv): PodInfo {
  return { pod: env.POD_NAME ?? '', namespace: env.POD_NAMESPACE ?? '', node: env.NODE_NAME ?? '', podIp: env.POD_IP ?? '' };
}

export interface EchoServer {
  port: number;
  tcpPort?: number;
  close(): Promise<void>;
}

export async function startEchoServer(opts: {
  port: number;
  host: string;
  tcpPort?: number;
  pod: PodInfo;
  log: (line: Record<string, unknown>) => void;
}): Promise<EchoServer> {
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const started = performance.now();
    const plan = planResponse(new URL(req.url ?? '/', 'http://echo').pathname);
    const finish = (status: number, body: string, type: string): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
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
    if (plan.kind === 'health') return finish(200, 'ok\n', 'text/plain');
    if (plan.kind === 'bad-request') return finish(400, JSON.stringify({ error: plan.error }) + '\n', 'application/json');
    const body =
      JSON.stringify({
        ...opts.pod,
        method: req.method,
        url: req.url,
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress,
      }) + '\n';
    if (plan.delayMs === 0) return finish(plan.status, body, 'application/json');
    const timer = setTimeout(() => {
      timers.delete(timer);
      finish(plan.status, body, 'application/json');
    }, plan.delayMs);
    timers.add(timer);
    // A caller that gives up must not keep a timer (and the process) alive.
    res.on('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
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
  if (tcp)
    await listen(tcp, opts.tcpPort!, opts.host).catch(async (err: unknown) => {
      await new Promise((resolve) => server.close(resolve));
      throw err;
    });
  const result: EchoServer = {
    port: (server.address() as AddressInfo).port,
    async close() {
      tcp?.close();
      server.closeIdleConnections();
      const closed = new Promise((resolve) => server.close(resolve));
      // A pending /delay answer may wait up to a minute, longer than a kubelet's grace period:
      // cut what is still open after the drain time (closing a response clears its timer).
      const drain = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
      await closed;
      clearTimeout(drain);
    },
  };
  if (tcp) result.tcpPort = (tcp.address() as AddressInfo).port;
  return result;
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
}
