// The waypoint's L7 machinery without its listener or its discovery: the request stack with
// every policy layer, the TCP relay, and the server that sniffs a stream and feeds the HTTP
// codecs. The waypoint (app.ts) puts an HBONE listener in front of it; a sidecar (the sidecar
// workspace) feeds it the connections it captures from its own pod (WaypointServer.serveStream).
// Policies follow the WaypointConfig in `state`: call configApplied() after each update of it.
import type tls from 'node:tls';
import type { Clock } from '@ambient/api';
import type { HbonePool, HboneSource } from '@ambient/hbone';
import type { Logger } from 'pino';
import { backendHostname, EndpointPicker } from './balance/endpoint-picker.ts';
import type { WaypointState } from './config/waypoint-state.ts';
import { EndpointClient } from './endpoint/index.ts';
import { backendTrafficPolicies } from './policy/backend-traffic-policy.ts';
import { CircuitBreakers } from './policy/circuit-breaker.ts';
import { FaultInjector, faultInjectionPolicies } from './policy/fault-injection.ts';
import { rateLimitPolicies } from './policy/rate-limit-policies.ts';
import { RateLimiter } from './policy/rate-limiter.ts';
import { RetryBudgets } from './policy/retry-budget.ts';
import { protocolForPort } from './server/protocol-for-port.ts';
import { WaypointServer } from './server/waypoint-server.ts';
import { RequestStack, type WaypointTarget } from './stack/request-stack.ts';
import { relayTcp } from './stack/tcp-stack.ts';
import { createWaypointMetrics, type WaypointMetrics } from './telemetry/waypoint-metrics.ts';

export interface L7CoreOptions {
  state: WaypointState;
  pool: HbonePool;
  /** Who the upstream HBONE connections are from; read per connection (rotation, netns sockets). */
  source: () => HboneSource;
  /** The certificate an HBONE listener in front of the server presents; read per connection. */
  context: () => tls.SecureContext;
  trustDomain: string;
  rootCertPem: string;
  /** `host:port` of the Redis that RateLimitPolicies with a Redis store and no address use. */
  redisAddress?: string;
  clock: Clock;
  logger: Logger;
}

export interface L7Core {
  server: WaypointServer<WaypointTarget>;
  metrics: WaypointMetrics;
  /** Re-reads the policies of state.config (rate limits, faults, budgets, breakers). */
  configApplied(): void;
  /** Drains the server, then closes the upstreams and the rate-limit store. */
  close(): Promise<void>;
}

export function createL7Core(opts: L7CoreOptions): L7Core {
  const { state, logger, clock } = opts;
  const metrics = createWaypointMetrics();
  const endpoints = new EndpointClient({ pool: opts.pool, source: opts.source });
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
  const server = new WaypointServer<WaypointTarget>({
    context: opts.context,
    trustDomain: opts.trustDomain,
    rootCertPem: opts.rootCertPem,
    logger: logger.child({ component: 'server' }),
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

  return {
    server,
    metrics,
    configApplied() {
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
    // The server drains in-flight requests on close (its own drain limit, 5 s).
    async close() {
      await server.close();
      await endpoints.close();
      await rateLimiter.close();
    },
  };
}
