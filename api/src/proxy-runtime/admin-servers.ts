// ztunnel's three local HTTP ports, as Istio's: admin (15000, `/config_dump`), metrics (15020,
// `/metrics`, `/stats/prometheus`) and readiness (15021, `/healthz/ready`). Each port serves only
// its own paths, so the admin dump is never reachable on the (scraped) metrics port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface AdminServerOptions {
  host: string;
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
  const serve = (port: number, paths: string[]): Promise<number> => {
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
      server.listen(port, opts.host, () => ready((server.address() as AddressInfo).port));
    });
  };
  const close = (): Promise<void> => Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done())))).then(() => undefined);
  try {
    const admin = await serve(opts.ports.admin, ['/config_dump']);
    const metrics = await serve(opts.ports.metrics, ['/metrics', '/stats/prometheus']);
    const readiness = await serve(opts.ports.readiness, ['/healthz/ready']);
    return {
      adminUrl: `http://${opts.host}:${admin}/config_dump`,
      metricsUrl: `http://${opts.host}:${metrics}/metrics`,
      readyUrl: `http://${opts.host}:${readiness}/healthz/ready`,
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
  adminPort?: number;
  metricsPort?: number;
  readinessPort?: number;
}
