// ztunnel's composition root: discovery (istiod-lite) → state; the node agent's pods → capture
// (rules + listeners in each enrolled pod's netns); certificates from the mesh CA; admin on
// 15000, metrics on 15020, readiness on 15021.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DeltaXdsClient } from '@ambient/api/grpc';
import { HbonePool } from '@ambient/hbone';
import { installCaptureRules, removeCaptureRules } from './capture/capture-rules.ts';
import { grpcCaClient } from './identity/grpc-ca-client.ts';
import { SecretManager } from './identity/secret-manager.ts';
import { createZtunnelMetrics, type ZtunnelMetrics } from './metrics.ts';
import { NodeAgentClient, type PodInfo } from './node-agent/node-agent-client.ts';
import { PodProxy } from './proxy/pod-proxy.ts';
import { ProxyState } from './state/proxy-state.ts';
import { addressTypeUrl, authorizationTypeUrl } from './state/resource-types.ts';

export interface ZtunnelOptions {
  nodeName: string;
  /** The node agent's Unix socket (pods of this node with their netns). */
  nodeAgentSocket: string;
  /** istiod-lite's discovery + CA address: host:port or unix:<path>. */
  istiodAddress: string;
  istiodServerName?: string;
  rootCertPem: string;
  /** The ServiceAccount token (istio-system/ztunnel, bound to this node's ztunnel pod), read per request. */
  token: () => string;
  trustDomain?: string;
  /** Requested workload certificate lifetime (default 24 h). */
  certTtlSeconds?: number;
  /** Where admin, metrics and readiness listen (in the process's own netns). */
  host?: string;
  adminPort?: number; // 15000
  metricsPort?: number; // 15020
  readinessPort?: number; // 15021
  logger: Logger;
}

export interface Ztunnel {
  adminUrl: string;
  metricsUrl: string;
  readyUrl: string;
  state: ProxyState;
  metrics: ZtunnelMetrics;
  /** Captured pods by uid. */
  captured(): string[];
  /** Stops; with `drainMs`, live connections get that long to finish first (SIGTERM). */
  stop(opts?: { drainMs?: number }): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((ready, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ready((server.address() as AddressInfo).port));
  });
}

const json = (body: unknown): [number, string, string] => [200, 'application/json', JSON.stringify(body, null, 2)];

export async function startZtunnel(opts: ZtunnelOptions): Promise<Ztunnel> {
  const logger = opts.logger;
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const host = opts.host ?? '127.0.0.1';
  const metrics = createZtunnelMetrics();
  const state = new ProxyState();
  const ca = grpcCaClient({ address: opts.istiodAddress, rootCertPem: opts.rootCertPem, ...(opts.istiodServerName ? { servername: opts.istiodServerName } : {}), token: opts.token });
  const secrets = new SecretManager({ ca, rootCertPem: opts.rootCertPem, ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}), logger: logger.child({ component: 'identity' }) });
  const pool = new HbonePool();
  const deps = { state, secrets, pool, metrics, logger, trustDomain, rootCertPem: opts.rootCertPem };

  // Capture follows enrollment: a pod on this node whose workload istiod-lite says is HBONE.
  const pods = new Map<string, PodInfo>();
  const proxies = new Map<string, PodProxy>();
  let xdsSynced = false;
  let agentSynced = false;
  let reconciling = Promise.resolve();
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const reconcile = (): void => {
    reconciling = reconciling.then(async () => {
      if (stopped) return;
      let failed = false;
      for (const [uid, proxy] of [...proxies]) {
        const w = state.workloadByUid(uid);
        if (pods.has(uid) && w?.tunnelProtocol === 'HBONE') continue;
        proxies.delete(uid);
        const pod = pods.get(uid);
        // Un-enrolled: rules first, so no connection is redirected to a closed listener.
        if (pod) await removeCaptureRules(pod.netnsPath).catch((err: unknown) => logger.warn({ err: String(err), pod: uid }, 'removing capture rules failed'));
        await proxy.stop();
        secrets.forget(proxy.pod.identity);
        logger.info({ pod: uid }, 'pod no longer captured');
      }
      for (const [uid, pod] of pods) {
        if (proxies.has(uid)) continue;
        const w = state.workloadByUid(uid);
        if (w?.tunnelProtocol !== 'HBONE') continue;
        try {
          // Listeners first, then rules: redirected traffic always finds a listener.
          const proxy = await PodProxy.start({ uid, ip: pod.ip, netnsPath: pod.netnsPath, identity: w.identity }, deps);
          await installCaptureRules(pod.netnsPath);
          proxies.set(uid, proxy);
          logger.info({ pod: `${pod.namespace}/${pod.name}`, identity: w.identity }, 'pod captured');
        } catch (err) {
          failed = true;
          logger.error({ err: String(err), pod: `${pod.namespace}/${pod.name}` }, 'capturing the pod failed; retrying in 1 s');
        }
      }
      metrics.capturedPods.set(proxies.size);
      clearTimeout(retryTimer);
      if (failed && !stopped) retryTimer = setTimeout(reconcile, 1_000);
    }).catch((err: unknown) => logger.error({ err: String(err) }, 'reconciling captured pods failed'));
  };
  secrets.on('certificate', ({ identity }) => {
    void secrets.fetch(identity).then((cert) => {
      for (const p of proxies.values()) if (p.pod.identity === identity) p.setContext(cert.secureContext);
    }, () => undefined);
  });

  const xds = new DeltaXdsClient({
    address: opts.istiodAddress,
    rootCertPem: opts.rootCertPem,
    ...(opts.istiodServerName ? { servername: opts.istiodServerName } : {}),
    token: opts.token,
    node: { id: `ztunnel~${opts.nodeName}~${process.pid}`, type: 'ztunnel', nodeName: opts.nodeName },
    subscriptions: [{ typeUrl: addressTypeUrl }, { typeUrl: authorizationTypeUrl }],
    validate: (typeUrl, name, payload) => state.validate(typeUrl, name, payload),
  });
  xds.on('update', (u) => {
    const result = state.apply(u.typeUrl, { upserts: new Map([...u.resources].map(([n, e]) => [n, e.payload])), removals: u.removed });
    if (result.rejected.length > 0) logger.warn({ rejected: result.rejected }, 'discovery resources rejected');
    xdsSynced = true;
    // Live connections depend on the policies and on their destination workload (which lists
    // its selector policies); an Address update about other workloads cannot change a decision.
    const policyChange = u.typeUrl === authorizationTypeUrl;
    for (const p of proxies.values()) {
      if (policyChange || u.resources.has(p.pod.uid) || u.removed.includes(p.pod.uid)) p.recheck(state);
    }
    reconcile();
  });
  xds.on('disconnected', (d) => logger.warn({ code: d.code, details: d.details }, 'discovery stream lost; reconnecting'));
  xds.start();

  const agent = new NodeAgentClient(opts.nodeAgentSocket);
  agent.on('add', (pod) => {
    pods.set(pod.uid, pod);
    reconcile();
  });
  agent.on('remove', (pod) => {
    pods.delete(pod.uid);
    reconcile();
  });
  agent.on('synced', () => {
    agentSynced = true;
    reconcile();
  });
  agent.on('error', (err) => logger.warn({ err: err.message }, 'node agent'));
  agent.start();

  const configDump = (): unknown => ({
    node: opts.nodeName,
    ...state.dump(),
    certificates: secrets.list(),
    captured: [...proxies.values()].map((p) => ({ uid: p.pod.uid, ip: p.pod.ip, identity: p.pod.identity, connections: p.connections() })),
  });
  const route = async (url: string): Promise<[number, string, string]> => {
    if (url === '/config_dump') return json(configDump());
    if (url === '/metrics' || url === '/stats/prometheus') return [200, metrics.registry.contentType, await metrics.registry.metrics()];
    if (url === '/healthz/ready') return xdsSynced && agentSynced ? [200, 'text/plain', 'ready\n'] : [503, 'text/plain', `not ready: discovery ${xdsSynced ? 'synced' : 'pending'}, node agent ${agentSynced ? 'synced' : 'pending'}\n`];
    return [404, 'text/plain', 'not found\n'];
  };
  const servers: Server[] = [];
  const serve = async (port: number, paths: string[]): Promise<number> => {
    const server = createServer((req, res) => {
      const url = req.url ?? '/';
      const allowed = paths.includes(url);
      void (allowed ? route(url) : Promise.resolve([404, 'text/plain', 'not found\n'] as [number, string, string])).then(([code, type, body]) => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      });
    });
    servers.push(server);
    return listen(server, port, host);
  };
  const adminPort = await serve(opts.adminPort ?? 15000, ['/config_dump']);
  const metricsPort = await serve(opts.metricsPort ?? 15020, ['/metrics', '/stats/prometheus']);
  const readinessPort = await serve(opts.readinessPort ?? 15021, ['/healthz/ready']);

  return {
    adminUrl: `http://${host}:${adminPort}/config_dump`,
    metricsUrl: `http://${host}:${metricsPort}/metrics`,
    readyUrl: `http://${host}:${readinessPort}/healthz/ready`,
    state,
    metrics,
    captured: () => [...proxies.keys()],
    async stop({ drainMs = 0 } = {}) {
      // Capture rules stay: until a ztunnel is back, the pods' traffic fails closed, never plaintext.
      stopped = true;
      clearTimeout(retryTimer);
      xds.close();
      agent.close();
      await reconciling;
      await Promise.all([...proxies.values()].map((p) => p.drain(drainMs)));
      pool.close();
      secrets.close();
      ca.close();
      await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
    },
  };
}

/** Reads a token file per call, so a refreshed projected token is picked up. */
export function tokenFromFile(path: string): () => string {
  return () => readFileSync(path, 'utf8').trim();
}
