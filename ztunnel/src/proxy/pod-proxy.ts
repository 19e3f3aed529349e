// Everything ztunnel runs for one captured pod: three listeners opened inside the pod's netns
// (15001 outbound, 15006 inbound plaintext, 15008 HBONE) with the pod's certificate.
import net from 'node:net';
import type { Logger } from 'pino';
import { ports, type Clock } from '@ambient/api';
import type { HboneServer } from '@ambient/hbone';
import { listenInNetns } from '../capture/netns-sockets.ts';
import type { SecretManager } from '@ambient/api/proxy-runtime';
import type { ProxyState } from '@ambient/api/proxy-runtime';
import { recheck } from './authorize.ts';
import { createPodHboneServer, handleInboundPlaintext, recheckPlaintext, type InboundDeps, type PlaintextConnection } from './inbound.ts';
import { handleOutbound, type OutboundDeps } from './outbound.ts';
import { defaultPodConnectionLimits, PodConnectionLimit, type PodConnectionLimits } from './pod-connection-limit.ts';
import type { CapturedPodRef } from './pod-socket.ts';

export type PodProxyDeps = OutboundDeps &
  InboundDeps & {
    secrets: SecretManager;
    /** Concurrent connections per pod and direction (default defaultPodConnectionLimits). */
    podConnectionLimits?: PodConnectionLimits;
    /** Only its now(): when a burst of refusals is over. */
    clock?: Pick<Clock, 'now'>;
    /**
     * Offered each outbound connection before the L4 path; true takes it (a sidecar serves its
     * pod's HTTP through its L7 stack), false leaves it to handleOutbound. The connection keeps
     * its outbound slot until its socket closes.
     */
    takeOutbound?: (socket: net.Socket) => boolean;
  };

const wallClock: Pick<Clock, 'now'> = { now: Date.now };

export class PodProxy {
  readonly pod: CapturedPodRef & { identity: string };
  readonly #servers: net.Server[] = [];
  readonly #hbone: HboneServer;
  readonly #plaintext = new Set<PlaintextConnection>();
  #outbound = 0;
  readonly #logger: Logger;
  readonly #limit: PodConnectionLimit;

  private constructor(pod: CapturedPodRef & { identity: string }, hbone: HboneServer, logger: Logger, limit: PodConnectionLimit) {
    this.pod = pod;
    this.#hbone = hbone;
    this.#logger = logger;
    this.#limit = limit;
  }

  /**
   * Waits for the pod's first certificate, then listens inside its netns. Rejects (having closed
   * what it opened) on failure. The caller holds the identity (SecretManager.acquire).
   */
  static async start(pod: CapturedPodRef & { identity: string }, deps: PodProxyDeps): Promise<PodProxy> {
    await deps.secrets.fetch(pod.identity);
    const logger = deps.logger.child({ pod: pod.uid });
    const limit = new PodConnectionLimit(deps.podConnectionLimits ?? defaultPodConnectionLimits, { logger, metrics: deps.metrics }, deps.clock ?? wallClock);
    // Asked per handshake, not cached: a refresh applies at once even if its event went
    // unnoticed, and an expired certificate is never presented (the handshake is refused).
    const hbone = createPodHboneServer(deps, pod, () => deps.secrets.current(pod.identity)?.secureContext, limit);
    const self = new PodProxy(pod, hbone, logger, limit);
    // Over the cap a socket is closed at once, before anything is read from it or dialed for it.
    // A FIN, not an RST: through the pod's REDIRECT an RST from ztunnel's listener did not reach
    // the app's socket (it hung; pod-connection-cap.test.ts), a FIN always does.
    // HBONE is capped per stream, inside the server's authorization (a 503 the client can read).
    const servers: [number, (s: net.Socket) => void][] = [
      [ports.hbone, (s) => hbone.handleConnection(s)],
      [
        ports.inboundPlaintext,
        (s) => {
          if (!limit.tryAcquire('inbound')) return void s.destroy();
          void handleInboundPlaintext(deps, pod, s, self.#plaintext).finally(() => limit.release('inbound'));
        },
      ],
      [
        ports.outbound,
        (s) => {
          if (!limit.tryAcquire('outbound')) return void s.destroy();
          self.#outbound++;
          const done = deps.takeOutbound?.(s) ? new Promise<void>((resolve) => s.once('close', () => resolve())) : handleOutbound(deps, pod, s);
          void done.finally(() => {
            self.#outbound--;
            limit.release('outbound');
          });
        },
      ],
    ];
    try {
      for (const [port, onConnection] of servers) {
        // noDelay: see connectInNetns; accepted sockets forward at once too.
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true }, onConnection);
        server.on('error', (err) => self.#logger.error({ err, port }, 'listener failed'));
        await listenInNetns(server, pod.netnsPath, { port });
        self.#servers.push(server);
      }
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  /** Closes the live connections that the current policy no longer allows. */
  recheck(state: ProxyState): number {
    let closed = 0;
    const destination = state.workloadByUid(this.pod.uid);
    if (!destination) return 0;
    const streams = this.#hbone.activeStreams.map((s) => ({
      stream: s,
      sourceIdentity: s.request.sourceIdentity,
      sourceIp: s.request.sourceAddress,
      destinationWorkload: destination,
      destinationIp: this.pod.ip,
      destinationPort: s.request.target.port,
    }));
    for (const { connection, decision } of recheck(state, streams)) {
      connection.stream.close('policy_closed', decision.reason);
      closed++;
    }
    closed += recheckPlaintext(state, destination, this.#plaintext);
    if (closed > 0) this.#logger.info({ closed }, 'closed connections a policy change denies');
    return closed;
  }

  connections(): { hbone: number; plaintext: number; outbound: number; hboneSessions: number } {
    return { hbone: this.#hbone.activeStreams.length, plaintext: this.#plaintext.size, outbound: this.#outbound, hboneSessions: this.#hbone.sessionCount };
  }

  /** Slots held under the per-pod cap (inbound: HBONE streams and plaintext together). */
  connectionSlots(): { inbound: number; outbound: number } {
    return { inbound: this.#limit.inUse('inbound'), outbound: this.#limit.inUse('outbound') };
  }

  /** Graceful drain: stop accepting, let live connections finish for up to `graceMs`, then stop. */
  async drain(graceMs: number): Promise<void> {
    for (const server of this.#servers.splice(0)) server.close();
    const deadline = Date.now() + graceMs;
    const busy = (): boolean => {
      const c = this.connections();
      return c.hbone + c.plaintext + c.outbound > 0;
    };
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.stop();
  }

  /**
   * Stops accepting. Connections already relayed run to their end on their own (waiting for
   * them here would block un-enrollment behind an idle pooled HBONE session); HBONE sessions
   * are closed so peers reconnect under the new configuration.
   */
  async stop(): Promise<void> {
    for (const server of this.#servers.splice(0)) server.close();
    await this.#hbone.close();
  }
}
