// The waypoint's composition root: only construction and wiring. Discovery (its WaypointConfig
// and the addresses it needs) → state; its own certificate from the mesh CA; the HBONE server
// → the request stack (HTTP) or the TCP relay; admin, metrics and readiness.
import type tls from 'node:tls';
import { formatSpiffeId, ports, realClock, typeUrls, type Clock } from '@ambient/api';
import { subscribeState } from '@ambient/api/grpc';
import { grpcCaClient, IdentityError, type ProxyRuntimeOptions, SecretManager, startAdminServers } from '@ambient/api/proxy-runtime';
import { HbonePool } from '@ambient/hbone';
import type { Logger } from 'pino';
import { backendHostname, EndpointPicker } from './balance/endpoint-picker.ts';
import { WaypointState } from './config/waypoint-state.ts';
import { EndpointClient } from './endpoint/index.ts';
import { backendTrafficPolicies } from './policy/backend-traffic-policy.ts';
import { CircuitBreakers } from './policy/circuit-breaker.ts';
import { FaultInjector, faultInjectionPolicies } from './policy/fault-injection.ts';
import { rateLimitPolicies } from './policy/rate-limit-policies.ts';
import { RateLimiter } from './policy/rate-limiter.ts';
import { RetryBudgets } from './policy/retry-budget.ts';
import { protocolForPort } from './server/protocol-for-port.ts';
import { startWaypointServer } from './server/waypoint-server.ts';
import { RequestStack, type WaypointTarget } from './stack/request-stack.ts';
import { relayTcp } from './stack/tcp-stack.ts';
import { createWaypointMetrics } from './telemetry/waypoint-metrics.ts';

export interface WaypointOptions extends ProxyRuntimeOptions {
  /** The waypoint Gateway's name: also its ServiceAccount, so its identity. */
  gatewayName: string;
  gatewayNamespace: string;
  podName?: string;
  /** Where HBONE listens (default every address, 15008). */
  hbone?: { host?: string; port?: number };
  /** `host:port` of the Redis that RateLimitPolicies with a Redis store and no address use. */
  redisAddress?: string;
  clock?: Clock;
  logger: Logger;
}

export interface Waypoint {
  hboneAddress: string;
  adminUrl: string;
  metricsUrl: string;
  readyUrl: string;
  state: WaypointState;
  stop(): Promise<void>;
}

export async function startWaypoint(opts: WaypointOptions): Promise<Waypoint> {
  const { logger, rootCertPem, token } = opts;
  const clock = opts.clock ?? realClock;
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const identity = formatSpiffeId({ trustDomain, namespace: opts.gatewayNamespace, serviceAccount: opts.gatewayName });
  const servername = opts.istiodServerName;
  const metrics = createWaypointMetrics();
  const state = new WaypointState();
  const ca = grpcCaClient({ address: opts.istiodAddress, rootCertPem, ...(servername ? { servername } : {}), token });
  const secrets = new SecretManager({
    ca,
    rootCertPem,
    impersonate: false,
    ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}),
    logger: logger.child({ component: 'identity' }),
  });
  // The server and the upstream ask for the certificate per connection: a rotation applies at
  // once, and with none valid (not issued yet, expired without a refresh) a connection is
  // refused rather than presented an expired certificate.
  const certificate = (): tls.SecureContext => {
    const cert = secrets.current(identity);
    if (cert === undefined)
      throw new IdentityError('ERR_CERT_UNAVAILABLE', `no valid certificate for ${identity} (not issued yet, or expired without a refresh)`);
    return cert.secureContext;
  };
  const pool = new HbonePool();
  const endpoints = new EndpointClient({ pool, source: () => ({ identity, context: certificate() }) });
  // Outlier detection is reported here: one counter each, and a warn line per ejection and return.
  const balanceLog = logger.child({ component: 'balance' });
  const picker = new EndpointPicker({
    clock,
    events: {
      ejected: (backend, endpoint, reason, ejectionMs) => {
        metrics.countOutlierEjection(backendHostname(backend), reason);
        balanceLog.warn({ backend, endpoint, reason, ejectionMs }, 'endpoint ejected by outlier detection');
      },
      returned: (backend, endpoint) => {
        metrics.countOutlierReturn(backendHostname(backend));
        balanceLog.warn({ backend, endpoint }, 'ejected endpoint returned to load balancing');
      },
      panic: (backend) => metrics.countLbPanic(backendHostname(backend)),
    },
  });
  metrics.readOutlierEjected(() => picker.ejectedByService());
  const budgets = new RetryBudgets(clock);
  const breakers = new CircuitBreakers({ onOverflow: (hostname, reason) => metrics.countOverflow(hostname, reason) });
  const faults = new FaultInjector();
  const rateLimiter = new RateLimiter({
    clock,
    ...(opts.redisAddress ? { redisAddress: opts.redisAddress } : {}),
    logger: logger.child({ component: 'rate-limit' }),
    events: {
      limited: (policy, limit) => metrics.countRateLimited(policy, limit),
      storeError: (policy, failedOpen) => metrics.countRateLimitStoreError(policy, failedOpen),
      storeConnection: (address, up) => {
        metrics.rateLimitStoreUp(address, up);
        logger.info({ address, up }, up ? 'rate limit store connected' : 'rate limit store unreachable');
      },
    },
  });
  const stack = new RequestStack({ state, endpoints, picker, budgets, breakers, rateLimiter, faults, metrics, logger, clock });

  let synced = false;
  const xds = subscribeState({
    address: opts.istiodAddress,
    rootCertPem,
    servername,
    token,
    node: {
      id: `waypoint~${opts.podName || opts.gatewayName}.${opts.gatewayNamespace}`,
      type: 'waypoint',
      namespace: opts.gatewayNamespace,
      name: opts.gatewayName,
    },
    typeUrls: [typeUrls.address, typeUrls.waypointConfig],
    state,
    logger,
    onApplied: ({ typeUrl }) => {
      if (typeUrl !== typeUrls.waypointConfig) return;
      const policies = backendTrafficPolicies(state.config?.extensions ?? []);
      for (const p of policies.problems) logger.warn({ policy: p.name, problem: p.message }, 'BackendTrafficPolicy ignored');
      budgets.update(policies.budgets, new Set((state.config?.services ?? []).map((s) => s.hostname)));
      // istiod-lite delivers only specs that parse (the last accepted one for an invalid edit):
      // a problem here means the two disagree, so it is logged and the policy left out.
      const extensions = state.config?.extensions ?? [];
      const limits = rateLimitPolicies(extensions);
      for (const p of limits.problems) logger.warn({ policy: p.name, problem: p.message }, 'RateLimitPolicy ignored');
      rateLimiter.update(limits.policies);
      const injected = faultInjectionPolicies(extensions);
      for (const p of injected.problems) logger.warn({ policy: p.name, problem: p.message }, 'FaultInjectionPolicy ignored');
      faults.update(injected.policies);
      breakers.update(new Map((state.config?.services ?? []).map((s) => [s.hostname, s.trafficPolicy?.connectionPool])));
    },
    onSynced: () => {
      synced = true;
    },
  });
  xds.start();
  await secrets.fetch(identity);

  const server = await startWaypointServer<WaypointTarget>({
    context: certificate,
    trustDomain,
    rootCertPem,
    logger: logger.child({ component: 'server' }),
    listen: { host: opts.hbone?.host ?? '0.0.0.0', port: opts.hbone?.port ?? ports.hbone },
    resolve: (target) => {
      const served = state.served(target.ip, target.port);
      if (served === undefined) return undefined;
      // A workload-addressed target has no service port to declare a protocol: detect it.
      return { ...served, protocol: served.kind === 'service' ? protocolForPort(served.port) : 'detect' };
    },
    onRequest: (req, res, conn) => stack.handle(req, res, conn),
    onTcp: (stream, conn) => void relayTcp(stream, conn, { state, endpoints, picker, breakers, metrics, logger, clock }),
    onRejectedRequest: (r) => logger.info({ status: r.status, reason: r.reason, source: r.conn.source.identity }, 'request rejected'),
    onConnectionRefused: (r) => logger.warn({ outcome: r.outcome, peer: r.peer, detail: r.detail }, 'hbone connection refused'),
  });

  const admin = await startAdminServers({
    host: opts.host ?? '127.0.0.1',
    ports: { admin: opts.adminPort ?? ports.admin, metrics: opts.metricsPort ?? ports.metrics, readiness: opts.readinessPort ?? ports.readiness },
    registry: metrics.registry,
    notReady: () => (synced ? undefined : 'discovery pending (WaypointConfig and addresses)'),
    configDump: () => ({ identity, ...state.dump(), certificates: secrets.list() }),
  });
  const address = server.address;
  return {
    hboneAddress: `${address.address}:${address.port}`,
    adminUrl: admin.adminUrl,
    metricsUrl: admin.metricsUrl,
    readyUrl: admin.readyUrl,
    state,
    // The server drains in-flight requests on close (its own drain limit, 5 s).
    async stop() {
      xds.close();
      await server.close();
      await endpoints.close();
      await rateLimiter.close();
      pool.close();
      secrets.close();
      ca.close();
      await admin.close();
    },
  };
}
