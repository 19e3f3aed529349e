// A connection the pod sent out (captured on 15001 inside its netns): decide with buildRequest,
// then tunnel it over HBONE or pass it through as plain TCP. One access-log line per connection,
// written here (reportConnection) whatever the outcome.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Timers } from '@ambient/api';
import { formatSocketAddress, HboneError, relay, type ConnectionOutcome, type HbonePool, type SocketAddress } from '@ambient/hbone';
import { originalDestination } from '../capture/netns-sockets.ts';
import type { SecretManager } from '@ambient/api/proxy-runtime';
import type { ZtunnelMetrics } from '../metrics.ts';
import type { ProxyState } from '@ambient/api/proxy-runtime';
import { buildRequest, isRefusal } from './build-request.ts';
import { reportConnection, reportOpened, type ConnectionReport } from './connection-report.ts';
import { dialFromPod, dialOptions, podSocket, type CapturedPodRef } from './pod-socket.ts';

export interface OutboundDeps {
  state: ProxyState;
  secrets: SecretManager;
  /** Its own connectTimeoutMs bounds HBONE dials. */
  pool: HbonePool;
  metrics: ZtunnelMetrics;
  logger: Logger;
  /** How long a passthrough (plain TCP) dial may take (default 10 s); then connect_failed. */
  connectTimeoutMs?: number;
  timers?: Timers;
}

export async function handleOutbound(deps: OutboundDeps, pod: CapturedPodRef, downstream: net.Socket): Promise<void> {
  const started = performance.now();
  downstream.on('error', () => undefined);
  const log = deps.logger.child({ pod: pod.uid });
  const source = deps.state.workloadByUid(pod.uid);
  const report: ConnectionReport = {
    direction: 'outbound',
    protocol: 'TCP',
    outcome: 'ok',
    src: {
      addr: formatSocketAddress({ ip: downstream.remoteAddress ?? pod.ip, port: downstream.remotePort ?? 0 }),
      workload: source,
      identity: source?.identity,
    },
    dst: { addr: '' },
    sent: 0,
    received: 0,
    durationMs: 0,
  };
  const fail = (outcome: ConnectionOutcome, detail: string, error?: string): void => {
    downstream.destroy();
    reportConnection({ logger: log, metrics: deps.metrics }, { ...report, outcome, detail, error, durationMs: performance.now() - started });
  };
  let dst: SocketAddress;
  try {
    const original = originalDestination(downstream);
    dst = { ip: original.address, port: original.port };
  } catch (err) {
    return fail('no_original_destination', String(err));
  }
  report.dst.addr = formatSocketAddress(dst);
  if (!source) return fail('unknown_source', `pod ${pod.uid} is not a known workload yet`);
  const request = buildRequest(deps.state, { source, originalDst: dst });
  if (isRefusal(request)) return fail('no_route', request.reason);

  report.protocol = request.protocol;
  report.dst = {
    addr: report.dst.addr,
    workload: request.destinationWorkload,
    service: request.destinationService,
    identity: request.protocol === 'HBONE' ? (request.finalIdentity ?? request.expectedIdentities[0]) : undefined,
    hboneAddr: request.protocol === 'HBONE' ? formatSocketAddress(request.actualDestination) : undefined,
  };
  let upstream: Duplex;
  try {
    if (request.protocol === 'TCP') {
      upstream = await dialFromPod(pod, request.actualDestination, dialOptions(deps));
    } else {
      // Read per connection: never an expired certificate, and never a request to the CA here.
      const cert = deps.secrets.current(source.identity);
      if (cert === undefined) return fail('connect_failed', `no valid certificate for ${source.identity} (not issued yet, or expired without a refresh)`);
      upstream = await deps.pool.connect({
        source: { identity: source.identity, ip: pod.ip, context: cert.secureContext, localSocketFactory: (a) => podSocket(pod, a) },
        destination: request.hboneTarget!,
        hboneAddress: request.actualDestination,
        expectedIdentities: request.expectedIdentities,
      });
    }
  } catch (err) {
    // The transport's own outcome when it has one (a 401 from the peer is a denial), else: could not connect.
    return fail(
      err instanceof HboneError ? err.outcome : 'connect_failed',
      `upstream ${formatSocketAddress(request.actualDestination)} failed`,
      (err as Error).message,
    );
  }
  const sink = { logger: log, metrics: deps.metrics };
  reportOpened(sink, report);
  const result = await relay(downstream, upstream);
  reportConnection(
    sink,
    {
      ...report,
      outcome: result.error ? 'reset' : 'ok',
      sent: result.sent,
      received: result.received,
      durationMs: performance.now() - started,
      error: result.error?.message,
    },
    true,
  );
}
