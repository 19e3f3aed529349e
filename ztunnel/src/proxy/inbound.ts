// Traffic to a captured pod: HBONE on 15008 (mTLS, the peer's identity proven by its
// certificate) and plaintext redirected to 15006 (no identity: STRICT PeerAuthentication
// denies it). Both go through the same L4 authorization and reach the app from inside the
// pod's netns with ztunnel's mark.
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { Workload } from '@ambient/api';
import { createHboneServer, relay, type HboneServer, type InboundRecord, type InboundRequest } from '@ambient/hbone';
import { originalDestination } from '../capture/netns-sockets.ts';
import type { ZtunnelMetrics } from '../metrics.ts';
import type { ProxyState } from '../state/proxy-state.ts';
import { authorize, type ConnectionAttributes } from './authorize.ts';
import { dialFromPod, type CapturedPodRef } from './outbound.ts';
import { connectionLabelsFor } from './telemetry.ts';

export interface InboundDeps {
  state: ProxyState;
  metrics: ZtunnelMetrics;
  logger: Logger;
  trustDomain: string;
  rootCertPem: string;
}

/** The HBONE server of one captured pod; `context` returns the pod's current certificate. */
export function createPodHboneServer(deps: InboundDeps, pod: CapturedPodRef, context: () => tls.SecureContext): HboneServer {
  const attributes = (req: InboundRequest, destination: Workload): ConnectionAttributes => ({
    sourceIdentity: req.sourceIdentity, sourceIp: req.sourceAddress, destinationWorkload: destination, destinationIp: pod.ip, destinationPort: req.target.port,
  });
  return createHboneServer({
    context,
    trustDomain: deps.trustDomain,
    rootCertPem: deps.rootCertPem,
    logger: deps.logger.child({ direction: 'inbound', pod: pod.uid }),
    authorize: (req) => {
      const destination = deps.state.workloadByUid(pod.uid);
      if (req.target.host !== pod.ip || !destination) return { allow: false, status: 400, reason: `${req.authority} is not a workload in this pod` };
      const decision = authorize(deps.state, attributes(req, destination));
      return decision.allow ? { allow: true } : { allow: false, status: 401, reason: decision.reason };
    },
    connectUpstream: (target) => dialFromPod(pod, pod.ip, target.port),
    onStreamClosed: (record: InboundRecord) => {
      const destination = deps.state.workloadByUid(pod.uid);
      const source = deps.state.workloadByIp(record.request.sourceAddress);
      const labels = connectionLabelsFor('destination', source, destination, undefined, undefined, record.request.sourceIdentity);
      if (record.status !== 200) labels.response_flags = record.status === 401 ? 'DENY' : 'CONNECT';
      deps.metrics.connectionsOpened.inc(labels);
      deps.metrics.sentBytes.inc(labels, record.sent);
      deps.metrics.receivedBytes.inc(labels, record.received);
      deps.metrics.connectionsClosed.inc(labels);
    },
  });
}

/** Live plaintext inbound connections, for re-checking them when policy changes. */
export interface PlaintextConnection {
  attributes: ConnectionAttributes;
  socket: net.Socket;
}

/** A plaintext connection redirected to 15006 in the pod's netns. */
export async function handleInboundPlaintext(deps: InboundDeps, pod: CapturedPodRef, downstream: net.Socket, live: Set<PlaintextConnection>): Promise<void> {
  downstream.on('error', () => undefined);
  const log = deps.logger.child({ direction: 'inbound-plaintext', pod: pod.uid, src: downstream.remoteAddress });
  let port: number;
  try {
    port = originalDestination(downstream).port;
  } catch (err) {
    deps.metrics.refused.inc({ direction: 'inbound', reason: 'no-original-destination' });
    log.warn({ err: String(err) }, 'refused');
    downstream.destroy();
    return;
  }
  const destination = deps.state.workloadByUid(pod.uid);
  if (!destination) {
    deps.metrics.refused.inc({ direction: 'inbound', reason: 'unknown-destination' });
    downstream.destroy();
    return;
  }
  const attributes: ConnectionAttributes = { sourceIp: downstream.remoteAddress ?? '', destinationWorkload: destination, destinationIp: pod.ip, destinationPort: port };
  const source = deps.state.workloadByIp(attributes.sourceIp);
  const labels = connectionLabelsFor('destination', source, destination, undefined, undefined, undefined);
  const decision = authorize(deps.state, attributes);
  if (!decision.allow) {
    deps.metrics.refused.inc({ direction: 'inbound', reason: 'policy' });
    deps.metrics.connectionsOpened.inc({ ...labels, response_flags: 'DENY' });
    deps.metrics.connectionsClosed.inc({ ...labels, response_flags: 'DENY' });
    log.info({ port, reason: decision.reason, policy: decision.policy }, 'plaintext connection denied');
    downstream.destroy();
    return;
  }
  let upstream: net.Socket;
  try {
    upstream = await dialFromPod(pod, pod.ip, port);
  } catch (err) {
    log.warn({ err: String(err), port }, 'app unreachable');
    downstream.destroy();
    return;
  }
  const entry: PlaintextConnection = { attributes, socket: downstream };
  live.add(entry);
  deps.metrics.connectionsOpened.inc(labels);
  const result = await relay(downstream, upstream);
  live.delete(entry);
  deps.metrics.sentBytes.inc(labels, result.sent);
  deps.metrics.receivedBytes.inc(labels, result.received);
  deps.metrics.connectionsClosed.inc(labels);
  log.info({ port, sent: result.sent, received: result.received }, 'connection complete');
}
