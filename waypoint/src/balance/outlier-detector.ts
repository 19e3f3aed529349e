// Outlier detection per backend ("<hostname>:<port>"), as Envoy's consecutive-error detector does
// it for an Istio DestinationRule `outlierDetection`: an endpoint that answers N 5xx in a row (or
// N gateway errors: 502, 503, 504) is ejected, i.e. left out of load balancing, for
// baseEjectionTime × the times it was ejected; a sweep every `interval` brings it back and, while
// it stays healthy, lowers that multiplier again. Local failures (connect failure, reset,
// timeout) count as gateway errors and so as 5xx too: Envoy's reading without
// split_external_local_origin_errors. Off unless the DestinationRule asks for it (Istio).
//
// There is no timer: the sweeps an interval owes run when the backend is next used (a pick) or
// read (ejectedCounts(), at a metrics scrape), each at its own due time, so the outcome is the
// one a timer would have produced. A return is therefore reported at the next pick or scrape
// after it fell due, never while nobody looks; a backend with no ejection and no multiplier left
// skips its idle sweeps at once.
import type { Clock, OutlierDetection } from '@ambient/api';
import type { Endpoint } from '../config/waypoint-state.ts';
import { type EndpointAddress, EndpointMap } from './endpoint-map.ts';

export type EjectionReason = 'consecutive_5xx' | 'consecutive_gateway_errors';

/** What the detector reports; the composition root maps it to metrics and logs. */
export interface OutlierEvents {
  /** `endpoint` is "ip:port"; `ejectionMs` how long it stays out (returned at the first sweep after). */
  ejected(backend: string, endpoint: string, reason: EjectionReason, ejectionMs: number): void;
  /** Back in load balancing. Not reported for an endpoint that left the backend while ejected. */
  returned(backend: string, endpoint: string): void;
  /** A pick served from every endpoint, ejected ones included, because too few were healthy. */
  panic(backend: string): void;
}

/** How a finished request reflects on its endpoint. */
export type OutlierOutcome = 'success' | 'server-error' | 'gateway-error';

/** Istio's outlierDetection with its defaults filled in. */
export interface OutlierSettings {
  consecutive5xx: number;
  consecutiveGateway: number;
  intervalMs: number;
  baseEjectionMs: number;
  /** Envoy's max_ejection_time default: 300 s, or the base time when that is longer. */
  maxEjectionMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

const DEFAULT_CONSECUTIVE_5XX = 5;
const DEFAULT_INTERVAL_MS = 10_000;
const DEFAULT_BASE_EJECTION_MS = 30_000;
const DEFAULT_MAX_EJECTION_MS = 300_000;
const DEFAULT_MAX_EJECTION_PERCENT = 10;

/** Istio's defaults; undefined when neither check can eject (both thresholds explicitly 0). */
export function outlierSettings(od: OutlierDetection): OutlierSettings | undefined {
  const consecutive5xx = od.consecutive_5xxErrors ?? DEFAULT_CONSECUTIVE_5XX;
  const consecutiveGateway = od.consecutiveGatewayErrors ?? 0;
  if (consecutive5xx === 0 && consecutiveGateway === 0) return undefined;
  const baseEjectionMs = od.baseEjectionTimeMs || DEFAULT_BASE_EJECTION_MS;
  return {
    consecutive5xx,
    consecutiveGateway,
    intervalMs: od.intervalMs || DEFAULT_INTERVAL_MS,
    baseEjectionMs,
    maxEjectionMs: Math.max(DEFAULT_MAX_EJECTION_MS, baseEjectionMs),
    maxEjectionPercent: od.maxEjectionPercent ?? DEFAULT_MAX_EJECTION_PERCENT,
    minHealthPercent: od.minHealthPercent ?? 0,
  };
}

const NOT_EJECTED = -1;

/** One endpoint's record in one backend; kept only while it has something to remember. */
class HostRecord {
  readonly ip: string;
  readonly port: number;
  /** "ip:port", built once for the events. */
  readonly key: string;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  /** The times it was ejected, lowered by one per healthy sweep: the ejection multiplier. */
  ejections = 0;
  ejectedAt = NOT_EJECTED;
  ejectedForMs = 0;
  /** Marks the records still in the endpoint set during a sweep. */
  seen = 0;

  constructor(e: EndpointAddress) {
    this.ip = e.ip;
    this.port = e.port;
    this.key = `${e.ip}:${e.port}`;
  }

  get ejected(): boolean {
    return this.ejectedAt !== NOT_EJECTED;
  }

  /** Nothing to remember: the record can go. */
  get blank(): boolean {
    return this.consecutive5xx === 0 && this.consecutiveGateway === 0 && this.ejections === 0 && !this.ejected;
  }
}

class BackendRecord {
  readonly hosts = new EndpointMap<HostRecord>();
  source: OutlierDetection;
  settings: OutlierSettings;
  /** Endpoints at the last pick: what maxEjectionPercent is a share of. */
  size = 0;
  ejected = 0;
  nextSweepAt: number;
  usedAt: number;
  generation = 0;

  constructor(source: OutlierDetection, settings: OutlierSettings, now: number) {
    this.source = source;
    this.settings = settings;
    this.nextSweepAt = now + settings.intervalMs;
    this.usedAt = now;
  }
}

/** The endpoints a pick may use; a scratch object, valid until the next call. */
export interface Available {
  endpoints: readonly Endpoint[];
  panic: boolean;
}

export class OutlierDetector {
  readonly #clock: Clock;
  readonly #events: OutlierEvents | undefined;
  readonly #backends = new Map<string, BackendRecord>();
  readonly #available: Available = { endpoints: [], panic: false };

  constructor(o: { clock: Clock; events?: OutlierEvents }) {
    this.#clock = o.clock;
    this.#events = o.events;
  }

  /**
   * The endpoints of `backend` a pick may use: all of them without outlier detection or without
   * an ejection; otherwise the ones not ejected, unless fewer than `minHealthPercent` of them
   * (and always when none) are healthy: then all of them, flagged panic, as Envoy's panic
   * threshold does, since sending to suspect endpoints beats refusing every request.
   */
  available(backend: string, endpoints: readonly Endpoint[], od: OutlierDetection | undefined): Available {
    const out = this.#available;
    out.endpoints = endpoints;
    out.panic = false;
    const b = this.#configure(backend, od);
    if (b === undefined) return out;
    const now = this.#clock.now();
    b.usedAt = now;
    b.size = endpoints.length;
    if (now >= b.nextSweepAt) this.#sweep(backend, b, now, endpoints);
    if (b.ejected === 0) return out;
    let healthy = 0;
    for (const e of endpoints) if (b.hosts.get(e)?.ejected !== true) healthy++;
    if (healthy === endpoints.length) return out;
    if (healthy === 0 || healthy * 100 < b.settings.minHealthPercent * endpoints.length) {
      out.panic = true;
      this.#events?.panic(backend);
      return out;
    }
    out.endpoints = endpoints.filter((e) => b.hosts.get(e)?.ejected !== true);
    return out;
  }

  /** Counts one finished request of `e` (a no-op for a backend without outlier detection). */
  record(backend: string, e: EndpointAddress, outcome: OutlierOutcome): void {
    const b = this.#backends.get(backend);
    if (b === undefined) return;
    let h = b.hosts.get(e);
    if (outcome === 'success') {
      if (h === undefined) return;
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      if (h.blank) b.hosts.delete(e);
      return;
    }
    if (h === undefined) b.hosts.set(e, (h = new HostRecord(e)));
    // Answers an ejected endpoint gives during a panic say nothing new: it is out already.
    if (h.ejected) return;
    h.consecutiveGateway = outcome === 'gateway-error' ? h.consecutiveGateway + 1 : 0;
    h.consecutive5xx++;
    const s = b.settings;
    // Gateway errors first, as Envoy checks them; the counter that tripped restarts whether the
    // ejection happened or maxEjectionPercent refused it, so a refused host is tried again only
    // after another full run of errors.
    if (s.consecutiveGateway > 0 && h.consecutiveGateway >= s.consecutiveGateway) {
      h.consecutiveGateway = 0;
      this.#eject(backend, b, h, 'consecutive_gateway_errors');
    } else if (s.consecutive5xx > 0 && h.consecutive5xx >= s.consecutive5xx) {
      h.consecutive5xx = 0;
      this.#eject(backend, b, h, 'consecutive_5xx');
    }
  }

  /** Ejected endpoints per backend with outlier detection, after the sweeps that fell due. */
  ejectedCounts(): Map<string, number> {
    const now = this.#clock.now();
    const out = new Map<string, number>();
    for (const [backend, b] of this.#backends) {
      if (now >= b.nextSweepAt) this.#sweep(backend, b, now, undefined);
      out.set(backend, b.ejected);
    }
    return out;
  }

  /** Forgets backends unused since `idleSince` that have nothing ejected (their multipliers go too). */
  collect(idleSince: number): void {
    const now = this.#clock.now();
    for (const [backend, b] of this.#backends) {
      if (b.usedAt >= idleSince) continue;
      if (now >= b.nextSweepAt) this.#sweep(backend, b, now, undefined);
      if (b.ejected === 0) this.#backends.delete(backend);
    }
  }

  /** The backend's record under `od`, created or reconfigured; dropped when detection is off. */
  #configure(backend: string, od: OutlierDetection | undefined): BackendRecord | undefined {
    let b = this.#backends.get(backend);
    if (b !== undefined && b.source === od) return b;
    const settings = od === undefined ? undefined : outlierSettings(od);
    if (settings === undefined) {
      if (b !== undefined) this.#drop(backend, b);
      return undefined;
    }
    const now = this.#clock.now();
    if (b === undefined) {
      this.#backends.set(backend, (b = new BackendRecord(od!, settings, now)));
    } else {
      // A new config: ejections keep the length they were given; the next sweep is no later than
      // one new interval away.
      b.source = od!;
      b.settings = settings;
      b.nextSweepAt = Math.min(b.nextSweepAt, now + settings.intervalMs);
    }
    return b;
  }

  #drop(backend: string, b: BackendRecord): void {
    this.#backends.delete(backend);
    // Outlier detection was turned off: every ejected endpoint is back in load balancing.
    b.hosts.retain((h) => {
      if (h.ejected) this.#events?.returned(backend, h.key);
      return false;
    });
  }

  #eject(backend: string, b: BackendRecord, h: HostRecord, reason: EjectionReason): void {
    const s = b.settings;
    // maxEjectionPercent is never exceeded, except that one endpoint may always be ejected when
    // none is (Envoy: "will eject at least one host regardless of the value"): with the default
    // 10% a backend of fewer than ten endpoints could otherwise never eject its bad one.
    if (b.ejected > 0 && (b.ejected + 1) * 100 > s.maxEjectionPercent * Math.max(b.size, 1)) return;
    h.ejections = Math.min(h.ejections + 1, Math.ceil(s.maxEjectionMs / s.baseEjectionMs));
    h.ejectedForMs = Math.min(s.baseEjectionMs * h.ejections, s.maxEjectionMs);
    h.ejectedAt = this.#clock.now();
    b.ejected++;
    this.#events?.ejected(backend, h.key, reason, h.ejectedForMs);
  }

  /**
   * Runs every sweep due by `now`, each at its own time: returns ejected endpoints whose time is
   * up, lowers the multiplier of the healthy ones. With the current endpoint set at hand (a
   * pick), records of endpoints that left it are dropped, which bounds memory.
   */
  #sweep(backend: string, b: BackendRecord, now: number, endpoints: readonly Endpoint[] | undefined): void {
    const interval = b.settings.intervalMs;
    while (b.nextSweepAt <= now) {
      const at = b.nextSweepAt;
      b.nextSweepAt += interval;
      let pending = false;
      b.hosts.retain((h) => {
        if (h.ejected) {
          if (at - h.ejectedAt >= h.ejectedForMs) {
            h.ejectedAt = NOT_EJECTED;
            b.ejected--;
            this.#events?.returned(backend, h.key);
          }
        } else if (h.ejections > 0) {
          h.ejections--;
        }
        if (h.ejected || h.ejections > 0) pending = true;
        return !h.blank;
      });
      if (!pending) {
        // Nothing left for later sweeps to do: skip the idle ones, keeping the sweep times on
        // the same grid.
        if (b.nextSweepAt <= now) b.nextSweepAt += (Math.floor((now - b.nextSweepAt) / interval) + 1) * interval;
        break;
      }
    }
    if (endpoints === undefined) return;
    const gen = ++b.generation;
    for (const e of endpoints) {
      const h = b.hosts.get(e);
      if (h !== undefined) h.seen = gen;
    }
    b.hosts.retain((h) => {
      if (h.seen === gen) return true;
      if (h.ejected) b.ejected--;
      return false;
    });
  }
}
