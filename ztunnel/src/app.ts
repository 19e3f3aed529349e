// ztunnel's composition root: only construction and wiring. Discovery (istiod-lite) → state;
// the node agent's pods → capture; certificates from the mesh CA; admin, metrics, readiness.
import type { Logger } from 'pino';
import { ports } from '@ambient/api';
import { HbonePool } from '@ambient/hbone';
import { grpcCaClient, type ProxyRuntimeOptions, ProxyState, SecretManager, startAdminServers } from '@ambient/api/proxy-runtime';
import { CaptureReconciler } from './capture/capture-reconciler.ts';
import { loadNative } from './capture/native.ts';
import { connectionWeight, startMemoryRelease } from './memory-release.ts';
import { createZtunnelMetrics, type ZtunnelMetrics } from './metrics.ts';
import { NodeAgentClient } from './node-agent/node-agent-client.ts';
import type { PodConnectionLimits } from './proxy/pod-connection-limit.ts';

import { wireXds } from './xds/xds-wiring.ts';

export interface ZtunnelOptions extends ProxyRuntimeOptions {
  nodeName: string;
  /** The node agent's Unix socket (pods of this node with their netns). */
  nodeAgentSocket: string;
  logger: Logger;
  /** Concurrent proxied connections per pod, each direction (default 10 000 each). */
  podConnectionLimits?: PodConnectionLimits;
  /** Between two memory releases (malloc trim, and a heap shrink after connections closed; memory-release.ts); 0: never (default 10 s). */
  mallocTrimIntervalMs?: number;
  /** Where metrics and readiness listen when not on `host` (in a cluster: every address, so
   *  Prometheus reaches 15020); the admin dump stays on `host`. */
  probeHost?: string;
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

export async function startZtunnel(opts: ZtunnelOptions): Promise<Ztunnel> {
  const { logger, rootCertPem, token } = opts;
  const servername = opts.istiodServerName;
  const metrics = createZtunnelMetrics();
  const state = new ProxyState();
  const ca = grpcCaClient({ address: opts.istiodAddress, rootCertPem, ...(servername ? { servername } : {}), token });
  const secrets = new SecretManager({
    ca,
    rootCertPem,
    ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}),
    logger: logger.child({ component: 'identity' }),
  });
  const pool = new HbonePool();
  const capture = new CaptureReconciler({
    state,
    secrets,
    pool,
    metrics,
    logger,
    trustDomain: opts.trustDomain ?? 'cluster.local',
    rootCertPem,
    ...(opts.podConnectionLimits ? { podConnectionLimits: opts.podConnectionLimits } : {}),
  });

  let xdsSynced = false;
  let agentSynced = false;
  const xds = wireXds({
    address: opts.istiodAddress,
    rootCertPem,
    servername,
    token,
    nodeName: opts.nodeName,
    state,
    logger,
    onApplied: (change) => capture.discoveryChanged(change),
    onSynced: () => {
      xdsSynced = true;
      capture.discoverySynced();
    },
  });
  const agent = new NodeAgentClient(opts.nodeAgentSocket);
  agent.on('add', (pod) => capture.podAdded(pod));
  agent.on('remove', (pod) => capture.podRemoved(pod));
  agent.on('synced', () => {
    agentSynced = true;
    capture.reconcile();
  });
  agent.on('error', (err) => logger.warn({ err }, 'node agent'));
  xds.start();
  agent.start();
  const release = startMemoryRelease({
    intervalMs: opts.mallocTrimIntervalMs ?? 10_000,
    trim: () => loadNative().trimMalloc(),
    connections: () => {
      let streams = 0;
      let sessions = pool.connectionCount;
      for (const p of capture.proxies.values()) {
        const c = p.connections();
        streams += c.hbone + c.plaintext + c.outbound;
        sessions += c.hboneSessions;
      }
      return connectionWeight({ streams, sessions });
    },
    reduceHeap: () => loadNative().lowMemoryNotification(),
    onError: (err) => logger.warn({ err }, 'memory release failed; not trying again'),
  });

  const admin = await startAdminServers({
    host: opts.host ?? '127.0.0.1',
    ...(opts.probeHost ? { probeHost: opts.probeHost } : {}),
    ports: { admin: opts.adminPort ?? ports.admin, metrics: opts.metricsPort ?? ports.metrics, readiness: opts.readinessPort ?? ports.readiness },
    registry: metrics.registry,
    notReady: () => (xdsSynced && agentSynced ? undefined : `discovery ${xdsSynced ? 'synced' : 'pending'}, node agent ${agentSynced ? 'synced' : 'pending'}`),
    configDump: () => ({
      node: opts.nodeName,
      ...state.dump(),
      certificates: secrets.list(),
      captured: [...capture.proxies.values()].map((p) => ({ uid: p.pod.uid, ip: p.pod.ip, identity: p.pod.identity, connections: p.connections() })),
    }),
  });

  return {
    adminUrl: admin.adminUrl,
    metricsUrl: admin.metricsUrl,
    readyUrl: admin.readyUrl,
    state,
    metrics,
    captured: () => [...capture.proxies.keys()],
    async stop({ drainMs = 0 } = {}) {
      // Capture rules stay: until a ztunnel is back, the pods' traffic fails closed, never plaintext.
      release.stop();
      xds.close();
      agent.close();
      await capture.stop(drainMs);
      pool.close();
      secrets.close();
      ca.close();
      await admin.close();
    },
  };
}
