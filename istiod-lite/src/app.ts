// istiod-lite's composition root: Kubernetes sources → model → discovery, the CA on the same
// gRPC server (15012, TLS), the root certificate publisher, the sidecar injection webhook
// (15017, HTTPS), and — on the elected leader only — status conditions, the waypoint controller
// and the webhook's configuration. Metrics on 15014. It only constructs and wires; the work
// lives in the modules it names.
import { hostname } from 'node:os';
import { collectDefaultMetrics } from 'prom-client';
import { ports } from '@ambient/api';
import { defaultTokenAudiences, TokenReviewAuthenticator } from './auth/token-review-authenticator.ts';
import { loadOrCreateMeshCa } from './ca/ca-keys.ts';
import { createCertificateService } from './ca/certificate-service.ts';
import { RootCertPublisher } from './ca/root-cert-publisher.ts';
import { istiodServerName, startGrpcServer } from './grpc-server.ts';
import { webhookUrl } from './inject/webhook-configuration.ts';
import { startWebhookServer, webhookServingNames } from './inject/webhook-server.ts';
import { ensureCrds } from './kube/crds.ts';
import { MeshSources } from './kube/mesh-sources.ts';
import { LeaderWork } from './leader-work.ts';
import { MeshState } from './mesh-state.ts';
import { startMetricsServer } from './metrics-server.ts';
import type { Istiod, IstiodOptions } from './istiod-options.ts';
import { createMetrics } from './metrics.ts';
import { ModelRecompute } from './model-recompute.ts';
import { defaultMeshOptions, type MeshOptions } from './model/inputs.ts';
import { LeaderElector } from './status/leader-elector.ts';
import { createDiscoveryService } from './xds/discovery-server.ts';
import { defaultProxyPodOptions } from './proxy-pod.ts';

export type { Istiod, IstiodOptions } from './istiod-options.ts';

export async function startIstiod(opts: IstiodOptions): Promise<Istiod> {
  const { logger, kubeConfig: kc } = opts;
  const mesh: MeshOptions = { ...defaultMeshOptions, ...opts.mesh };
  const host = opts.host ?? '0.0.0.0';
  const metrics = createMetrics();
  if (opts.processMetrics) collectDefaultMetrics({ register: metrics.registry });
  const stops: (() => unknown)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await Promise.resolve(s()).catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };

  try {
    if (opts.installCrds) await ensureCrds(kc);
    const ca = await loadOrCreateMeshCa({ kc, logger, rootNamespace: mesh.rootNamespace, trustDomain: mesh.trustDomain });
    const sources = new MeshSources(kc, { logger });
    await sources.start();
    stops.push(() => sources.stop());

    // Everything a recompute touches exists before the first change can trigger one: changes
    // arrive while the awaits below are pending.
    const state = new MeshState(mesh);
    const proxyPod = { ...defaultProxyPodOptions, ...opts.proxyPod, trustDomain: mesh.trustDomain };
    // Before the leader can write the webhook configuration: it names the actual port.
    const webhook = await startWebhookServer({
      ca,
      host,
      port: opts.webhookPort ?? ports.webhook,
      ...webhookServingNames({
        rootNamespace: mesh.rootNamespace,
        clusterDomain: mesh.clusterDomain,
        ...(opts.webhookUrlHost ? { urlHost: opts.webhookUrlHost } : {}),
      }),
      injection: { rootNamespace: mesh.rootNamespace, pod: proxyPod },
      metrics,
      logger,
    });
    stops.push(() => webhook.close());
    const leader = new LeaderWork(kc, logger, {
      proxyPod,
      injector: {
        rootNamespace: mesh.rootNamespace,
        caBundlePem: ca.rootCertPem,
        port: webhook.port,
        ...(opts.webhookUrlHost ? { urlHost: opts.webhookUrlHost } : {}),
      },
    });
    const elector = new LeaderElector(kc, { namespace: mesh.rootNamespace, identity: opts.identity ?? `${hostname()}-${process.pid}`, logger });
    elector.on('leading', () => leader.lead(state.model));
    elector.on('stopped-leading', () => void leader.stepDown());
    const recompute = new ModelRecompute({
      sources,
      state,
      metrics,
      leader,
      logger,
      ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    recompute.start();
    stops.push(() => recompute.stop());

    const authenticator = new TokenReviewAuthenticator(kc, { audiences: opts.tokenAudiences ?? defaultTokenAudiences });
    const discovery = createDiscoveryService({
      source: state,
      authenticator,
      metrics,
      logger: logger.child({ component: 'xds' }),
      // The model recompute is the pipeline's one debounce: a new model is pushed at once.
      debounceMs: 0,
      rootNamespace: mesh.rootNamespace,
      allowTestProxies: opts.allowTestProxies === true,
      pods: sources,
      ...(opts.maxStreamsPerCaller !== undefined ? { maxStreamsPerCaller: opts.maxStreamsPerCaller } : {}),
      ...(opts.maxPushBytesInFlight !== undefined ? { maxPushBytesInFlight: opts.maxPushBytesInFlight } : {}),
    });
    stops.push(() => discovery.close());
    const certificates = createCertificateService({
      ca,
      authenticator,
      pods: sources,
      metrics,
      logger: logger.child({ component: 'ca' }),
      trustDomain: mesh.trustDomain,
      rootNamespace: mesh.rootNamespace,
    });
    const grpcServer = await startGrpcServer({
      ca,
      clusterDomain: mesh.clusterDomain,
      host,
      port: opts.grpcPort ?? ports.istiodGrpc,
      ...(opts.udsPath ? { udsPath: opts.udsPath } : {}),
      discovery,
      certificates,
    });
    stops.push(() => grpcServer.close());

    const publisher = new RootCertPublisher({ kc, rootCertPem: ca.rootCertPem, logger });
    await publisher.start();
    stops.push(() => publisher.stop());

    recompute.recompute();
    stops.push(() => leader.stepDown()); // after the elector stopped: waits for the last leader writes
    stops.push(() => elector.stop());
    await elector.start();

    const metricsServer = await startMetricsServer({ host, port: opts.metricsPort ?? ports.istiodMetrics, metrics, state, discovery });
    stops.push(() => metricsServer.close());
    const display = host === '0.0.0.0' ? '127.0.0.1' : host;
    logger.info({ grpc: `${display}:${grpcServer.port}`, metrics: metricsServer.port, webhook: webhook.port, ca: ca.source }, 'istiod-lite ready');

    return {
      grpcAddress: `${display}:${grpcServer.port}`,
      ...(grpcServer.udsAddress ? { udsAddress: grpcServer.udsAddress } : {}),
      metricsUrl: `http://${display}:${metricsServer.port}/metrics`,
      webhookUrl: webhookUrl(display, webhook.port),
      rootCertPem: ca.rootCertPem,
      serverName: istiodServerName,
      state,
      metrics,
      isLeader: () => leader.leading,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
