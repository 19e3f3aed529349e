// istiod-lite's composition root: Kubernetes sources → model → discovery, the CA on the same
// gRPC server (15012, TLS), the root certificate publisher, and — on the elected leader only —
// status conditions and the waypoint controller. Metrics on 15014.
import { rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { issueCertificate, ports, realClock, type Clock } from '@ambient/api';
import { aggregatedDiscoveryServiceDefinition, certificateServiceDefinition } from '@ambient/api/grpc';
import { TokenReviewAuthenticator } from './auth/token-review-authenticator.ts';
import { loadOrCreateMeshCa, type MeshCa } from './ca/ca-keys.ts';
import { createCertificateService } from './ca/certificate-service.ts';
import { RootCertPublisher } from './ca/root-cert-publisher.ts';
import { ensureCrds } from './kube/crds.ts';
import { MeshSources } from './kube/mesh-sources.ts';
import { MeshState } from './mesh-state.ts';
import { createMetrics, type IstiodMetrics } from './metrics.ts';
import { defaultMeshOptions, type MeshOptions } from './model/inputs.ts';
import { LeaderElector } from './status/leader-elector.ts';
import { StatusWriter } from './status/status-writer.ts';
import { WaypointController } from './waypoint/waypoint-controller.ts';
import { createDiscoveryService } from './xds/discovery-server.ts';

export interface IstiodOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Address the gRPC and metrics servers listen on. Default 0.0.0.0 (127.0.0.1 in the local cluster). */
  host?: string;
  grpcPort?: number; // 15012; 0 = ephemeral
  /** Also serve discovery + CA on this Unix socket (the local cluster's node processes reach the host this way). */
  udsPath?: string;
  metricsPort?: number; // 15014; 0 = ephemeral
  mesh?: Partial<MeshOptions>;
  /** Leader election identity; unique per replica (the pod name in Kubernetes). */
  identity?: string;
  /** Quiet period before the model is recomputed after Kubernetes changes. */
  debounceMs?: number;
  /** Timers of the model's debounce; tests drive them. */
  clock?: Clock;
  /** Apply the CRDs of deploy/crds at start (the local cluster does; a real cluster applies deploy/). */
  installCrds?: boolean;
}

export interface Istiod {
  /** host:port of the discovery + CA gRPC server. */
  grpcAddress: string;
  /** `unix:<path>` when udsPath was given. */
  udsAddress?: string;
  metricsUrl: string;
  rootCertPem: string;
  /** Hostname the gRPC server's certificate is for (clients set it as the TLS server name). */
  serverName: string;
  state: MeshState;
  metrics: IstiodMetrics;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export const istiodServerName = 'istiod.istio-system.svc';

/** Objects the model left out as invalid (a condition with reason Invalid), by kind. */
function countInvalid(metrics: IstiodMetrics, statuses: { kind: string; conditions: { reason: string }[] }[]): void {
  metrics.invalidObjects.reset();
  for (const s of statuses) if (s.conditions.some((c) => c.reason === 'Invalid')) metrics.invalidObjects.inc({ kind: s.kind });
}

function listenHttp(server: HttpServer, port: number, host: string): Promise<number> {
  return new Promise((ready, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ready((server.address() as AddressInfo).port));
  });
}

export async function startIstiod(opts: IstiodOptions): Promise<Istiod> {
  const logger = opts.logger;
  const kc = opts.kubeConfig;
  const mesh: MeshOptions = { ...defaultMeshOptions, ...opts.mesh };
  const host = opts.host ?? '0.0.0.0';
  const metrics = createMetrics();
  const stops: (() => unknown)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await Promise.resolve(s()).catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };

  try {
    if (opts.installCrds) await ensureCrds(kc);
    const ca: MeshCa = await loadOrCreateMeshCa({ kc, logger, rootNamespace: mesh.rootNamespace, trustDomain: mesh.trustDomain });

    const sources = new MeshSources(kc, { logger });
    await sources.start();
    stops.push(() => sources.stop());

    const state = new MeshState(mesh);
    // Leader-only work: status conditions and waypoint Deployments. Declared before anything
    // that can recompute the model reads them (a change may arrive during the awaits below).
    let statusWriter: StatusWriter | undefined;
    let waypoints: WaypointController | undefined;
    let leading = false;
    const elector = new LeaderElector(kc, { namespace: mesh.rootNamespace, identity: opts.identity ?? `${hostname()}-${process.pid}`, logger });
    elector.on('leading', () => {
      leading = true;
      statusWriter = new StatusWriter(kc, { logger });
      waypoints = new WaypointController(kc, { logger });
      const model = state.model;
      if (model) {
        statusWriter.update(model.statuses);
        waypoints.update(model.waypointGateways.values());
      }
    });
    elector.on('stopped-leading', () => {
      leading = false;
      statusWriter?.stop();
      waypoints?.stop();
      statusWriter = undefined;
      waypoints = undefined;
    });
    stops.push(() => elector.stop());
    // Model: recomputed from the informer caches after a quiet period, at most every 500 ms
    // under constant churn; the first change of a burst gives the push-latency start time.
    const debounceMs = opts.debounceMs ?? 20;
    const timers = opts.clock ?? realClock;
    let timer: unknown;
    let firstSeenAt: number | undefined;
    let burstStart = 0;
    const recompute = (): void => {
      timer = undefined;
      const seenAt = firstSeenAt ?? performance.now();
      firstSeenAt = undefined;
      try {
        const model = state.update(sources.snapshot(), seenAt);
        countInvalid(metrics, model.statuses);
        statusWriter?.update(model.statuses);
        waypoints?.update(model.waypointGateways.values());
      } catch (err) {
        // The model is pure and total by design; a throw here is a bug: keep the last model.
        logger.error({ err }, 'model computation failed; keeping the last good model');
      }
    };
    stops.push(() => timers.clearTimeout(timer));
    stops.push(
      sources.onChange((_kinds, seenAt) => {
        if (firstSeenAt === undefined) {
          firstSeenAt = seenAt;
          burstStart = performance.now();
        }
        timers.clearTimeout(timer);
        const wait = Math.max(0, Math.min(debounceMs, burstStart + 500 - performance.now()));
        timer = timers.setTimeout(recompute, wait);
      }),
    );

    // One TLS gRPC server for discovery and the CA, its certificate from the mesh CA.
    const serving = issueCertificate({ ca: ca.signer, commonName: 'istiod', dnsNames: [istiodServerName, `${istiodServerName}.${mesh.clusterDomain}`, 'localhost'], ipAddresses: ['127.0.0.1'], validityDays: 365 });
    const authenticator = new TokenReviewAuthenticator(kc);
    const discovery = createDiscoveryService({ source: state, authenticator, metrics, logger: logger.child({ component: 'xds' }), debounceMs: 10 });
    stops.push(() => discovery.close());
    const certificates = createCertificateService({ ca, authenticator, pods: sources, metrics, logger: logger.child({ component: 'ca' }), trustDomain: mesh.trustDomain, rootNamespace: mesh.rootNamespace });
    const grpcServer = new grpc.Server({ 'grpc.max_send_message_length': 256 * 1024 * 1024 });
    grpcServer.addService(aggregatedDiscoveryServiceDefinition, discovery.handlers);
    grpcServer.addService(certificateServiceDefinition, certificates.handlers);
    const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from([serving.certPem, ...ca.chain.slice(0, -1)].join('')), private_key: Buffer.from(serving.keyPem) }], false);
    const grpcPort = await new Promise<number>((ready, fail) => grpcServer.bindAsync(`${host}:${opts.grpcPort ?? ports.istiodGrpc}`, credentials, (err, port) => (err ? fail(err) : ready(port))));
    stops.push(() => new Promise<void>((done) => grpcServer.tryShutdown(() => done())));
    if (opts.udsPath) {
      rmSync(opts.udsPath, { force: true }); // a socket file left by a previous run
      await new Promise<number>((ready, fail) => grpcServer.bindAsync(`unix:${opts.udsPath}`, credentials, (err, port) => (err ? fail(err) : ready(port))));
    }

    const publisher = new RootCertPublisher({ kc, rootCertPem: ca.rootCertPem, logger });
    await publisher.start();
    stops.push(() => publisher.stop());

    countInvalid(metrics, state.update(sources.snapshot(), performance.now()).statuses);
    await elector.start();

    const metricsServer = createHttpServer((req, res) => {
      if (req.url === '/metrics' || req.url === '/stats/prometheus') {
        metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        }, (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
      } else if (req.url === '/debug/model') {
        // What istiod-lite currently pushes, for humans and tooling (as istiod's /debug endpoints).
        const model = state.model;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          workloads: [...(model?.workloads.values() ?? [])].map((w) => ({ namespace: w.namespace, name: w.name, node: w.node, addresses: w.addresses, protocol: w.tunnelProtocol ?? 'NONE', identity: w.identity, waypoint: w.waypoint?.hostname })),
          services: [...(model?.services.keys() ?? [])],
          authorizations: [...(model?.authorizations.keys() ?? [])],
          waypoints: [...(model?.waypoints.keys() ?? [])],
          proxies: discovery.connections(),
        }, null, 2));
      } else if (req.url === '/ready') {
        res.writeHead(200);
        res.end('ok\n');
      } else {
        res.writeHead(404);
        res.end('not found\n');
      }
    });
    const metricsPort = await listenHttp(metricsServer, opts.metricsPort ?? ports.istiodMetrics, host);
    stops.push(() => new Promise<void>((done) => metricsServer.close(() => done())));
    const display = host === '0.0.0.0' ? '127.0.0.1' : host;
    logger.info({ grpc: `${display}:${grpcPort}`, metrics: metricsPort, ca: ca.source }, 'istiod-lite ready');

    return {
      grpcAddress: `${display}:${grpcPort}`,
      ...(opts.udsPath ? { udsAddress: `unix:${opts.udsPath}` } : {}),
      metricsUrl: `http://${display}:${metricsPort}/metrics`,
      rootCertPem: ca.rootCertPem,
      serverName: istiodServerName,
      state,
      metrics,
      isLeader: () => leading,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
