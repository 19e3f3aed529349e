// ztunnel's three local HTTP ports, as Istio's: admin (15000, `/config_dump`), metrics (15020,
// `/metrics`, `/stats/prometheus`) and readiness (15021, `/healthz/ready`). Each port serves only
// its own paths, so the admin dump is never reachable on the (scraped) metrics port.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface AdminServerOptions {
  /** Where the admin dump listens (and, without probeHost, metrics and readiness too). */
  host: string;
  /** Where metrics and readiness listen, when not on host: in a pod, every address (as Istio's
   *  15020/15021), so that the kubelet's probes and scrapers reach them; the dump stays on host. */
  probeHost?: string;
  ports: { admin: number; metrics: number; readiness: number };
  configDump: () => unknown;
  registry: Pick<Registry, 'contentType' | 'metrics'>;
  /** Undefined when ready, else why not (the 503 body). */
  notReady: () => string | undefined;
}

export interface AdminServers {
  adminUrl: string;
  metricsUrl: string;
  readyUrl: string;
  close(): Promise<void>;
}

// Not `import { createServer } from 'node:http'`: an ESM import of node:http builds its whole
// namespace, whose lazy getters (WebSocket, MessageEvent...) load Node's internal undici, about
// 3 MiB of heap in every proxy process for classes it never uses.
const { createServer } = process.getBuiltinModule('node:http');

type Reply = [status: number, contentType: string, body: string];

const notFound: Reply = [404, 'text/plain', 'not found\n'];

export async function startAdminServers(opts: AdminServerOptions): Promise<AdminServers> {
  const route = async (url: string): Promise<Reply> => {
    if (url === '/config_dump') return [200, 'application/json', JSON.stringify(opts.configDump(), null, 2)];
    if (url === '/metrics' || url === '/stats/prometheus') return [200, opts.registry.contentType, await opts.registry.metrics()];
    if (url === '/healthz/ready') {
      const why = opts.notReady();
      return why === undefined ? [200, 'text/plain', 'ready\n'] : [503, 'text/plain', `not ready: ${why}\n`];
    }
    return notFound;
  };
  const servers: Server[] = [];
  const serve = (port: number, host: string, paths: string[]): Promise<number> => {
    const server = createServer((req, res) => {
      const url = req.url ?? '/';
      void (paths.includes(url) ? route(url) : Promise.resolve(notFound)).then(([code, type, body]) => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      });
    });
    servers.push(server);
    return new Promise((ready, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => ready((server.address() as AddressInfo).port));
    });
  };
  const close = (): Promise<void> => Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done())))).then(() => undefined);
  try {
    const probeHost = opts.probeHost ?? opts.host;
    const admin = await serve(opts.ports.admin, opts.host, ['/config_dump']);
    const metrics = await serve(opts.ports.metrics, probeHost, ['/metrics', '/stats/prometheus']);
    const readiness = await serve(opts.ports.readiness, probeHost, ['/healthz/ready']);
    // URLs for this host's own use: every address includes loopback.
    const local = probeHost === '0.0.0.0' || probeHost === '::' ? '127.0.0.1' : probeHost;
    return {
      adminUrl: `http://${opts.host}:${admin}/config_dump`,
      metricsUrl: `http://${local}:${metrics}/metrics`,
      readyUrl: `http://${local}:${readiness}/healthz/ready`,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** What every proxy binary is told about istiod-lite, its identity and its local ports. */
export interface ProxyRuntimeOptions {
  /** istiod-lite's discovery + CA address: host:port or unix:<path>. */
  istiodAddress: string;
  istiodServerName?: string;
  rootCertPem: string;
  /** The proxy's ServiceAccount token, read per request (a projected token is refreshed on disk). */
  token: () => string;
  trustDomain?: string;
  /** Requested certificate lifetime (default 24 h). */
  certTtlSeconds?: number;
  /** Where admin, metrics and readiness listen (in the process's own netns). */
  host?: string;
  /** Where metrics and readiness listen instead, when set (AdminServerOptions.probeHost). */
  probeHost?: string;
  adminPort?: number;
  metricsPort?: number;
  readinessPort?: number;
}
