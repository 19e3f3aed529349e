// The sidecar's composition root: one proxy inside one pod, injected by istiod-lite's webhook.
// It is ztunnel's per-pod proxy (capture rules in its own netns, 15001/15006/15008, mTLS with
// the pod's identity, L4 authorization of what comes in) serving only its own pod, plus the
// waypoint's L7 core for the pod's outbound HTTP to services without a waypoint (routes,
// retries, timeouts, circuit breaking, outlier detection, load balancing, rate limits, faults).
// One discovery stream (type `sidecar`) brings addresses, L4 policies and the WaypointConfig
// istiod-lite computes for it.
import { formatSpiffeId, ports, realClock, typeUrls, type Clock } from '@ambient/api';
import { subscribeState } from '@ambient/api/grpc';
import { ownIdentity, type ProxyRuntimeOptions, startAdminServers } from '@ambient/api/proxy-runtime';
import { HbonePool } from '@ambient/hbone';
import { createL7Core, WaypointState } from '@ambient/waypoint';
import {
  type CapturedPodRef,
  createZtunnelMetrics,
  defaultCaptureConfig,
  installCaptureRules,
  originalDestination,
  PodProxy,
  podSocket,
} from '@ambient/ztunnel';
import type { Logger } from 'pino';
import { mergedMetrics } from './merged-metrics.ts';
import { servesL7 } from './outbound-l7.ts';

export interface SidecarOptions extends ProxyRuntimeOptions {
  podName: string;
  podNamespace: string;
  podIp: string;
  serviceAccount: string;
  /** The pod's netns (default this process's own: the sidecar runs inside its pod). */
  netnsPath?: string;
  /** `host:port` of the Redis that RateLimitPolicies with a Redis store and no address use. */
  redisAddress?: string;
  clock?: Clock;
  logger: Logger;
}

export interface Sidecar {
  identity: string;
  adminUrl: string;
  metricsUrl: string;
  readyUrl: string;
  state: WaypointState;
  /** Resolves once the pod is captured (listeners, then rules); rejects if that failed. */
  captured: Promise<void>;
  stop(): Promise<void>;
}

export async function startSidecar(opts: SidecarOptions): Promise<Sidecar> {
  const { logger, rootCertPem, token } = opts;
  const clock = opts.clock ?? realClock;
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const identity = formatSpiffeId({ trustDomain, namespace: opts.podNamespace, serviceAccount: opts.serviceAccount });
  const servername = opts.istiodServerName;
  const netnsPath = opts.netnsPath ?? '/proc/self/ns/net';
  // Metrics and readiness: reached from outside the pod (probeHost), so exempt from inbound capture.
  const probePorts = [opts.metricsPort ?? ports.metrics, opts.readinessPort ?? ports.readiness] as const;
  const state = new WaypointState();
  const own = ownIdentity(identity, opts, logger);
  const { secrets, certificate } = own;
  // The pod's uid is its workload's, which discovery knows by the pod's address.
  const pod: CapturedPodRef = { uid: '', ip: opts.podIp, netnsPath };
  const pool = new HbonePool();
  const l4Metrics = createZtunnelMetrics();
  const core = createL7Core({
    state,
    pool,
    // Upstream sockets carry the mark, so the pod's own capture rules let them out.
    source: () => ({ identity, ip: pod.ip, context: certificate(), localSocketFactory: (a) => podSocket(pod, a) }),
    context: certificate,
    trustDomain,
    rootCertPem,
    ...(opts.redisAddress ? { redisAddress: opts.redisAddress } : {}),
    clock,
    logger,
  });

  let proxy: PodProxy | undefined;
  let synced = false;
  let starting: Promise<void> | undefined;
  let capturedResolve!: () => void;
  let capturedReject!: (err: Error) => void;
  const captured = new Promise<void>((resolve, reject) => {
    capturedResolve = resolve;
    capturedReject = reject;
  });
  captured.catch(() => undefined); // also reported through the log; a caller may not wait on it

  const capture = async (uid: string): Promise<void> => {
    pod.uid = uid;
    proxy = await PodProxy.start(
      { ...pod, identity },
      {
        state: state.addresses,
        secrets,
        pool,
        metrics: l4Metrics,
        logger,
        trustDomain,
        rootCertPem,
        takeOutbound: (socket) => {
          let dst: { ip: string; port: number };
          try {
            const o = originalDestination(socket);
            dst = { ip: o.address, port: o.port };
          } catch {
            return false; // the L4 path reports it
          }
          if (!servesL7(state, dst)) return false;
          return core.server.serveStream(socket, {
            authority: `${dst.ip}:${dst.port}`,
            target: dst,
            sourceIdentity: identity,
            sourceAddress: pod.ip,
            headers: {},
          });
        },
      },
    );
    // Listeners first, then rules: redirected traffic always finds a listener.
    // The kubelet probes readiness (and Prometheus scrapes metrics) from outside the pod, in clear.
    await installCaptureRules(netnsPath, { ...defaultCaptureConfig, inboundExemptPorts: probePorts.filter((p) => p > 0) });
    logger.info({ pod: `${opts.podNamespace}/${opts.podName}`, identity }, 'pod captured');
  };
  // Capture starts once discovery has delivered every type (no window in which policies are
  // missing) and knows this pod's workload.
  const maybeCapture = (): void => {
    if (!synced || starting !== undefined) return;
    const workload = state.addresses.workloadByIp(opts.podIp);
    if (workload === undefined) return;
    starting = capture(workload.uid).then(capturedResolve, (err: Error) => {
      logger.error({ err }, 'capturing the pod failed');
      capturedReject(err);
    });
  };

  secrets.acquire(identity);
  const xds = subscribeState({
    address: opts.istiodAddress,
    rootCertPem,
    servername,
    token,
    node: { id: `sidecar~${opts.podName}.${opts.podNamespace}`, type: 'sidecar', namespace: opts.podNamespace, name: opts.podName },
    typeUrls: [typeUrls.address, typeUrls.authorization, typeUrls.waypointConfig],
    state,
    logger,
    onApplied: ({ typeUrl, touched }) => {
      if (typeUrl === typeUrls.waypointConfig) core.configApplied();
      if (proxy && (typeUrl === typeUrls.authorization || touched.has(pod.uid))) proxy.recheck(state.addresses);
      maybeCapture();
    },
    onSynced: () => {
      synced = true;
      maybeCapture();
    },
  });
  xds.start();
  await secrets.fetch(identity);

  const admin = await startAdminServers({
    host: opts.host ?? '127.0.0.1',
    ...(opts.probeHost !== undefined ? { probeHost: opts.probeHost } : {}),
    ports: { admin: opts.adminPort ?? ports.admin, metrics: probePorts[0], readiness: probePorts[1] },
    registry: mergedMetrics(l4Metrics.registry, core.metrics.registry),
    notReady: () => (!synced ? 'discovery pending' : proxy === undefined ? 'pod not captured yet' : undefined),
    configDump: () => ({
      identity,
      pod: { name: opts.podName, namespace: opts.podNamespace, uid: pod.uid, ip: pod.ip },
      ...state.dump(),
      certificates: secrets.list(),
      connections: proxy?.connections() ?? null,
    }),
  });

  return {
    identity,
    adminUrl: admin.adminUrl,
    metricsUrl: admin.metricsUrl,
    readyUrl: admin.readyUrl,
    state,
    captured,
    // The capture rules stay: until a sidecar is back, the pod's traffic fails closed, never plaintext.
    async stop() {
      xds.close();
      await starting?.catch(() => undefined);
      await core.close();
      await proxy?.stop();
      pool.close();
      own.close();
      await admin.close();
    },
  };
}
