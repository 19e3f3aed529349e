// A connection the pod sent out (captured on 15001 inside its netns): decide with buildRequest,
// then tunnel it over HBONE or pass it through as plain TCP. One access-log line per connection.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { parseSocketAddress, relay, type HbonePool } from '@ambient/hbone';
import { connectInNetns, originalDestination } from '../capture/netns-sockets.ts';
import type { SecretManager } from '../identity/secret-manager.ts';
import type { ZtunnelMetrics } from '../metrics.ts';
import type { ProxyState } from '../state/proxy-state.ts';
import { buildRequest, isRefusal } from './build-request.ts';
import { connectionLabelsFor } from './telemetry.ts';

/** ztunnel's own sockets carry this mark, so the pod's capture rules let them through. */
export const ZTUNNEL_MARK = 0x539;

export interface CapturedPodRef {
  uid: string;
  ip: string;
  netnsPath: string;
}

export interface OutboundDeps {
  state: ProxyState;
  secrets: SecretManager;
  pool: HbonePool;
  metrics: ZtunnelMetrics;
  logger: Logger;
}

/** A TCP connection from inside the pod's netns that resolves once connected. */
export function dialFromPod(pod: CapturedPodRef, host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectInNetns(pod.netnsPath, { host, port, mark: ZTUNNEL_MARK });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export async function handleOutbound(deps: OutboundDeps, pod: CapturedPodRef, downstream: net.Socket): Promise<void> {
  const started = performance.now();
  downstream.on('error', () => undefined);
  let dst: { address: string; port: number };
  try {
    dst = originalDestination(downstream);
  } catch (err) {
    deps.metrics.refused.inc({ direction: 'outbound', reason: 'no-original-destination' });
    deps.logger.warn({ err: String(err), pod: pod.uid }, 'outbound connection without an original destination refused');
    downstream.destroy();
    return;
  }
  const source = deps.state.workloadByUid(pod.uid);
  const log = deps.logger.child({ direction: 'outbound', src: `${pod.ip}`, dst: `${dst.address}:${dst.port}` });
  if (!source) {
    deps.metrics.refused.inc({ direction: 'outbound', reason: 'unknown-source' });
    log.warn({ pod: pod.uid }, 'refused: the source pod is not a known workload yet');
    downstream.destroy();
    return;
  }
  const request = buildRequest(deps.state, { source, originalDst: { ip: dst.address, port: dst.port } });
  if (isRefusal(request)) {
    deps.metrics.refused.inc({ direction: 'outbound', reason: 'no-route' });
    log.info({ reason: request.reason }, 'refused');
    downstream.destroy();
    return;
  }

  const labels = connectionLabelsFor('source', source, request.destinationWorkload, request.destinationService, request.protocol === 'HBONE' ? request.finalIdentity ?? request.expectedIdentities[0] : undefined);
  let upstream: Duplex;
  try {
    if (request.protocol === 'TCP') {
      const target = parseSocketAddress(request.actualDestination)!;
      upstream = await dialFromPod(pod, target.host, target.port);
    } else {
      const cert = await deps.secrets.fetch(source.identity);
      upstream = await deps.pool.connect({
        source: { identity: source.identity, ip: pod.ip, context: cert.secureContext, localSocketFactory: (a) => connectInNetns(pod.netnsPath, { host: a.host, port: a.port, mark: ZTUNNEL_MARK }) },
        destination: request.hboneTarget!,
        hboneAddress: parseSocketAddress(request.actualDestination)!,
        expectedIdentities: request.expectedIdentities,
      });
    }
  } catch (err) {
    deps.metrics.connectionsOpened.inc({ ...labels, response_flags: 'CONNECT' });
    deps.metrics.connectionsClosed.inc({ ...labels, response_flags: 'CONNECT' });
    log.warn({ err: String(err), via: request.actualDestination, protocol: request.protocol }, 'upstream connection failed');
    downstream.destroy();
    return;
  }
  deps.metrics.connectionsOpened.inc(labels);
  const result = await relay(downstream, upstream);
  deps.metrics.sentBytes.inc(labels, result.sent);
  deps.metrics.receivedBytes.inc(labels, result.received);
  deps.metrics.connectionsClosed.inc(labels);
  log.info({
    protocol: request.protocol, via: request.actualDestination, src_identity: source.identity,
    dst_identity: labels.destination_principal, sent: result.sent, received: result.received,
    duration_ms: Math.round(performance.now() - started), ...(result.error ? { error: result.error.message } : {}),
  }, 'connection complete');
}
