// The waypoint's composition root: only construction and wiring. Discovery (its WaypointConfig
// and the addresses it needs) → state; its own certificate from the mesh CA; the L7 core
// (l7-core.ts) behind an HBONE listener; admin, metrics and readiness.
import { formatSpiffeId, ports, realClock, typeUrls, type Clock } from '@ambient/api';
import { subscribeState } from '@ambient/api/grpc';
import { ownIdentity, type ProxyRuntimeOptions, startAdminServers } from '@ambient/api/proxy-runtime';
import { HbonePool } from '@ambient/hbone';
import type { Logger } from 'pino';
import { WaypointState } from './config/waypoint-state.ts';
import { createL7Core } from './l7-core.ts';

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
  const state = new WaypointState();
  // The server and the upstream ask for the certificate per connection (own-identity.ts).
  const own = ownIdentity(identity, opts, logger);
  const { secrets, certificate } = own;
  const pool = new HbonePool();
  const core = createL7Core({
    state,
    pool,
    source: () => ({ identity, context: certificate() }),
    context: certificate,
    trustDomain,
    rootCertPem,
    ...(opts.redisAddress ? { redisAddress: opts.redisAddress } : {}),
    clock,
    logger,
  });

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
      if (typeUrl === typeUrls.waypointConfig) core.configApplied();
    },
    onSynced: () => {
      synced = true;
    },
  });
  xds.start();
  await secrets.fetch(identity);

  const server = core.server;
  await server.listen({ host: opts.hbone?.host ?? '0.0.0.0', port: opts.hbone?.port ?? ports.hbone });

  const admin = await startAdminServers({
    host: opts.host ?? '127.0.0.1',
    ports: { admin: opts.adminPort ?? ports.admin, metrics: opts.metricsPort ?? ports.metrics, readiness: opts.readinessPort ?? ports.readiness },
    registry: core.metrics.registry,
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
    async stop() {
      xds.close();
      await core.close();
      pool.close();
      own.close();
      await admin.close();
    },
  };
}
