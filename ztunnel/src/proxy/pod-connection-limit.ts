// The per-pod cap on concurrent proxied connections, one count per direction: outbound (what
// the pod sends out through 15001) and inbound (HBONE streams on 15008 and plaintext on 15006,
// together: what reaches the pod). Without it one pod, or one peer aiming at one pod, could hold
// an unbounded number of sockets, relays and buffers in the node's ztunnel and starve every
// other pod of the node. Istio's ztunnel has no such cap; Envoy's per-listener connection limit
// (envoy.filters.network.connection_limit / max_connections) is the analogue.
//
// Refusals are counted in ztunnel_connections_refused_total{direction, reason="pod_connection_limit"}
// and get no access-log line each: under a flood that would be the amplifier. Instead one line
// when a burst starts and one, with the count, once it is over.
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import type { ZtunnelMetrics } from '../metrics.ts';

export type PodConnectionDirection = 'outbound' | 'inbound';

export interface PodConnectionLimits {
  outbound: number;
  inbound: number;
}

/**
 * 10 000 each way: well above what one ordinary pod holds at once (a busy client's pools are
 * hundreds), so only a runaway or hostile pod meets it, while one pod can no longer take the
 * whole node's file descriptors. Nodes with few, very busy pods raise it by flag.
 */
export const defaultPodConnectionLimits: Readonly<PodConnectionLimits> = { outbound: 10_000, inbound: 10_000 };

/** Refusals closer together than this belong to one burst (one log line when it starts). */
export const refusalBurstGapMs = 10_000;

interface DirectionState {
  readonly limit: number;
  inUse: number;
  /** Refusals of the current burst; 0 when none is going on. */
  burstRefused: number;
  lastRefusalAt: number;
}

/** A pod's two counts. Acquire on accept, release exactly once when that connection ends. */
export class PodConnectionLimit {
  readonly #outbound: DirectionState;
  readonly #inbound: DirectionState;
  readonly #logger: Logger;
  readonly #metrics: ZtunnelMetrics;
  readonly #clock: Pick<Clock, 'now'>;

  constructor(limits: PodConnectionLimits, sink: { logger: Logger; metrics: ZtunnelMetrics }, clock: Pick<Clock, 'now'>) {
    for (const direction of ['outbound', 'inbound'] as const) {
      const limit = limits[direction];
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`pod connection limit ${direction}: ${limit} is not a positive integer`);
    }
    this.#outbound = { limit: limits.outbound, inUse: 0, burstRefused: 0, lastRefusalAt: 0 };
    this.#inbound = { limit: limits.inbound, inUse: 0, burstRefused: 0, lastRefusalAt: 0 };
    this.#logger = sink.logger;
    this.#metrics = sink.metrics;
    this.#clock = clock;
  }

  /**
   * Takes a slot, or refuses: then the refusal is counted (and logged if it starts a burst) and
   * the caller closes the connection at once. Allocates nothing when it admits.
   */
  tryAcquire(direction: PodConnectionDirection): boolean {
    const d = this.#state(direction);
    if (d.burstRefused > 0 && this.#clock.now() - d.lastRefusalAt >= refusalBurstGapMs) this.#endBurst(direction, d);
    if (d.inUse < d.limit) {
      d.inUse++;
      return true;
    }
    this.refused(direction);
    return false;
  }

  /**
   * Counts one refusal already made (the HBONE server answered 503 for it) and logs the first of
   * a burst. tryAcquire calls it for its own refusals.
   */
  refused(direction: PodConnectionDirection): void {
    const d = this.#state(direction);
    const now = this.#clock.now();
    if (d.burstRefused > 0 && now - d.lastRefusalAt >= refusalBurstGapMs) this.#endBurst(direction, d);
    this.#metrics.refused.inc({ direction, reason: 'pod_connection_limit' });
    if (d.burstRefused === 0) {
      this.#logger.warn(
        { direction, limit: d.limit, outcome: 'pod_connection_limit' },
        `pod connection limit reached: refusing new ${direction} connections (one line per burst; ztunnel_connections_refused_total counts each)`,
      );
    }
    d.burstRefused++;
    d.lastRefusalAt = now;
  }

  release(direction: PodConnectionDirection): void {
    const d = this.#state(direction);
    if (d.inUse > 0) d.inUse--;
  }

  inUse(direction: PodConnectionDirection): number {
    return this.#state(direction).inUse;
  }

  #state(direction: PodConnectionDirection): DirectionState {
    return direction === 'outbound' ? this.#outbound : this.#inbound;
  }

  // Reported lazily, on the next connection after the gap: no timer per pod for a log line.
  #endBurst(direction: PodConnectionDirection, d: DirectionState): void {
    this.#logger.info({ direction, limit: d.limit, refused: d.burstRefused }, 'pod connection limit burst over');
    d.burstRefused = 0;
  }
}
