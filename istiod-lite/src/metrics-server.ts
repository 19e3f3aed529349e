// The metrics and debug HTTP server (15014): Prometheus metrics, what istiod-lite currently
// pushes (`/debug/model`, as istiod's /debug endpoints), and readiness.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MeshState } from './mesh-state.ts';
import type { IstiodMetrics } from './metrics.ts';
import type { DiscoveryService } from './xds/discovery-server.ts';

export interface MetricsServerOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  metrics: IstiodMetrics;
  state: MeshState;
  discovery: DiscoveryService;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

function debugModel(res: ServerResponse, state: MeshState, discovery: DiscoveryService): void {
  const model = state.model;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify(
      {
        workloads: [...(model?.workloads.values() ?? [])].map((w) => ({
          namespace: w.namespace,
          name: w.name,
          node: w.node,
          addresses: w.addresses,
          protocol: w.tunnelProtocol ?? 'NONE',
          identity: w.identity,
          waypoint: w.waypoint?.hostname,
        })),
        services: [...(model?.services.keys() ?? [])],
        authorizations: [...(model?.authorizations.keys() ?? [])],
        waypoints: [...(model?.waypoints.keys() ?? [])],
        proxies: discovery.connections(),
      },
      null,
      2,
    ),
  );
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { metrics } = opts;
  const server = createServer((req, res) => {
    if (req.url === '/metrics' || req.url === '/stats/prometheus') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/debug/model') {
      debugModel(res, opts.state, opts.discovery);
    } else if (req.url === '/ready') {
      res.writeHead(200);
      res.end('ok\n');
    } else {
      res.writeHead(404);
      res.end('not found\n');
    }
  });
  const port = await new Promise<number>((ready, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host, () => ready((server.address() as AddressInfo).port));
  });
  return { port, close: () => new Promise<void>((done) => server.close(() => done())) };
}
