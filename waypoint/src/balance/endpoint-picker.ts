// Which endpoint of a backend ("<hostname>:<port>") a try goes to, per the destination's Istio
// DestinationRule `trafficPolicy`:
//
// 1. outlier detection first (outlier-detector.ts): ejected endpoints are left out, unless too
//    few are healthy (panic: all of them);
// 2. then the load balancer over what is left:
//    - consistentHash: a Maglev table over the endpoints (maglev-table.ts), rebuilt only when
//      the set changes; the key from hash-key.ts; no key → random, or a generated cookie;
//    - LB_UNSPECIFIED (the default): power of two choices over peak-EWMA cost (endpoint-load.ts),
//      Linkerd's balancer: near-best choices without a scan, and latency-aware, so a slow or
//      failing endpoint gets little traffic;
//    - LEAST_REQUEST: power of two choices over requests in flight (Envoy's);
//    - RANDOM; ROUND_ROBIN and PASSTHROUGH (a waypoint has no original destination to pass
//      through to for service traffic: round robin is the safe reading).
//
// The caller reports every try it picked for: started() when it is sent, finished() when it
// ends, with its latency (to the response headers) and outcome, which feeds in-flight counts,
// the latency estimates and outlier detection.
//
// Memory stays bounded without a timer: once a minute a pick forgets endpoints idle (nothing in
// flight, no request started or finished) and backends unpicked for 10 minutes; by then an
// EWMA estimate has relaxed to nothing (e^-60) and an ejection has ended (Envoy's 300 s cap)
// unless a longer baseEjectionTime asked otherwise, in which case the backend is kept.
// Outlier records of endpoints that left a backend go at its next sweep.
import type { Clock, ConsistentHash, TrafficPolicy } from '@ambient/api';
import type { Endpoint } from '../config/waypoint-state.ts';
import { EndpointLoad } from './endpoint-load.ts';
import { EndpointMap } from './endpoint-map.ts';
import { generateCookie, hashKeyOf, type PickContext } from './hash-key.ts';
import { DEFAULT_TABLE_SIZE, hashString, MaglevTable } from './maglev-table.ts';
import { OutlierDetector, type OutlierEvents, type OutlierOutcome } from './outlier-detector.ts';

export type { PickContext } from './hash-key.ts';
export type { EjectionReason, OutlierEvents } from './outlier-detector.ts';

export interface EndpointPick {
  endpoint: Endpoint;
  /** Served from every endpoint, ejected ones included, because too few were healthy. */
  panic: boolean;
  /** A full Set-Cookie value for the response: the consistent-hash cookie this pick generated. */
  setCookie?: string;
}

/**
 * How a try ended, as far as its endpoint is concerned. `cancelled`: ended by the client or by
 * the waypoint itself (shutdown, a request the waypoint could not send), which says nothing about
 * the endpoint: only the in-flight count moves.
 */
export type EndpointFailure = 'connect' | 'reset' | 'timeout' | 'cancelled';

export interface TryResult {
  /** To the response headers (or to the failure). */
  latencyMs: number;
  status?: number;
  failure?: EndpointFailure;
}

export interface EndpointPickerOptions {
  clock: Clock;
  /** [0, 1); injected for tests. */
  random?: () => number;
  events?: OutlierEvents;
}

const COLLECT_EVERY_MS = 60_000;
const IDLE_MS = 10 * 60_000;

/** The backend key pick() and finished() take, for a service hostname and port. */
export function backendKey(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}

/** The service hostname of a backend key (what metrics label destination_service). */
export function backendHostname(backend: string): string {
  const colon = backend.lastIndexOf(':');
  return colon < 0 ? backend : backend.slice(0, colon);
}

/** A backend's balancing state: the round-robin cursor and the last Maglev table. */
class BackendBalance {
  cursor = 0;
  usedAt: number;
  table: MaglevTable | undefined;
  /** The endpoint list the table was built over: its length, order-sensitive fingerprint, requested size. */
  tableOf = { n: 0, fingerprint: 0, requested: 0 };

  constructor(now: number) {
    this.usedAt = now;
  }
}

export class EndpointPicker {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #outliers: OutlierDetector;
  readonly #loads = new EndpointMap<EndpointLoad>();
  readonly #backends = new Map<string, BackendBalance>();
  #collectAt: number;

  constructor(o: EndpointPickerOptions) {
    this.#clock = o.clock;
    this.#random = o.random ?? Math.random;
    this.#outliers = new OutlierDetector({ clock: o.clock, ...(o.events ? { events: o.events } : {}) });
    this.#collectAt = o.clock.now() + COLLECT_EVERY_MS;
  }

  /** An endpoint of `endpoints` for `backend`, or undefined when there is none. */
  pick(backend: string, endpoints: readonly Endpoint[], policy: TrafficPolicy | undefined, ctx: PickContext): EndpointPick | undefined {
    if (endpoints.length === 0) return undefined;
    const now = this.#clock.now();
    if (now >= this.#collectAt) this.#collect(now);
    let b = this.#backends.get(backend);
    if (b === undefined) this.#backends.set(backend, (b = new BackendBalance(now)));
    b.usedAt = now;
    const available = this.#outliers.available(backend, endpoints, policy?.outlierDetection);
    const list = available.endpoints;
    const panic = available.panic;
    if (policy?.consistentHash !== undefined) return this.#hashPick(b, list, policy.consistentHash, ctx, panic);
    const n = list.length;
    if (n === 1) return { endpoint: list[0]!, panic };
    const lb = policy?.loadBalancer ?? 'LB_UNSPECIFIED';
    if (lb === 'ROUND_ROBIN' || lb === 'PASSTHROUGH') {
      const i = b.cursor % n;
      b.cursor = (i + 1) % n;
      return { endpoint: list[i]!, panic };
    }
    if (lb === 'RANDOM') return { endpoint: list[Math.floor(this.#random() * n)]!, panic };
    // LEAST_REQUEST and the default: power of two choices, two distinct random candidates, the
    // cheaper wins (in flight; peak-EWMA cost).
    const i = Math.floor(this.#random() * n);
    const x = list[i]!;
    const y = list[(i + 1 + Math.floor(this.#random() * (n - 1))) % n]!;
    if (lb === 'LEAST_REQUEST') return { endpoint: this.inFlight(x) <= this.inFlight(y) ? x : y, panic };
    return { endpoint: this.#load(x, now).cost(now) <= this.#load(y, now).cost(now) ? x : y, panic };
  }

  /** A try was sent to `e`. */
  started(e: Endpoint): void {
    const now = this.#clock.now();
    const load = this.#load(e, now);
    load.inFlight++;
    load.usedAt = now;
  }

  /** A try picked for `backend` and started on `e` ended. */
  finished(backend: string, e: Endpoint, result: TryResult): void {
    const now = this.#clock.now();
    const load = this.#loads.get(e);
    if (load !== undefined) {
      if (load.inFlight > 0) load.inFlight--;
      load.usedAt = now;
    }
    if (result.failure === 'cancelled') return;
    const outcome = outcomeOf(result);
    load?.observe(result.latencyMs, outcome !== 'success', now);
    this.#outliers.record(backend, e, outcome);
  }

  inFlight(e: Endpoint): number {
    return this.#loads.get(e)?.inFlight ?? 0;
  }

  /** The latency estimate the default balancer holds for `e` now (ms). */
  estimateMs(e: Endpoint): number | undefined {
    return this.#loads.get(e)?.estimateMs(this.#clock.now());
  }

  /** Ejected endpoints per backend with outlier detection, after the sweeps that fell due. */
  ejectedCounts(): Map<string, number> {
    return this.#outliers.ejectedCounts();
  }

  /** The same summed per service hostname (the ports of one service together): the gauge's read. */
  ejectedByService(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [backend, n] of this.#outliers.ejectedCounts()) {
      const service = backendHostname(backend);
      out.set(service, (out.get(service) ?? 0) + n);
    }
    return out;
  }

  #load(e: Endpoint, now: number): EndpointLoad {
    let load = this.#loads.get(e);
    if (load === undefined) this.#loads.set(e, (load = new EndpointLoad(now)));
    return load;
  }

  #hashPick(b: BackendBalance, list: readonly Endpoint[], ch: ConsistentHash, ctx: PickContext, panic: boolean): EndpointPick {
    let key = hashKeyOf(ch, ctx);
    let setCookie: string | undefined;
    if (key === undefined && ch.httpCookie?.ttlMs !== undefined) {
      const cookie = generateCookie(ch.httpCookie, this.#random);
      key = cookie.value;
      setCookie = cookie.setCookie;
    }
    const n = list.length;
    let endpoint: Endpoint;
    if (n === 1) endpoint = list[0]!;
    else if (key === undefined) endpoint = list[Math.floor(this.#random() * n)]!;
    else endpoint = list[this.#table(b, list, ch.tableSize || DEFAULT_TABLE_SIZE).lookup(hashString(key))]!;
    return setCookie === undefined ? { endpoint, panic } : { endpoint, panic, setCookie };
  }

  /** The backend's Maglev table over `list`, rebuilt only when the list (or the size asked for) changed. */
  #table(b: BackendBalance, list: readonly Endpoint[], requested: number): MaglevTable {
    const fp = fingerprint(list);
    const of = b.tableOf;
    if (b.table === undefined || of.n !== list.length || of.fingerprint !== fp || of.requested !== requested) {
      b.table = new MaglevTable(
        list.map((e) => `${e.ip}:${e.port}`),
        requested,
      );
      b.tableOf = { n: list.length, fingerprint: fp, requested };
    }
    return b.table;
  }

  #collect(now: number): void {
    this.#collectAt = now + COLLECT_EVERY_MS;
    const idleSince = now - IDLE_MS;
    this.#loads.retain((load) => load.inFlight > 0 || load.usedAt >= idleSince);
    for (const [backend, b] of this.#backends) if (b.usedAt < idleSince) this.#backends.delete(backend);
    this.#outliers.collect(idleSince);
  }
}

function outcomeOf(r: TryResult): OutlierOutcome {
  // Envoy maps local failures onto 503 (connect failure, reset) and 504 (timeout): gateway errors.
  if (r.failure !== undefined) return 'gateway-error';
  const s = r.status ?? 0;
  if (s === 502 || s === 503 || s === 504) return 'gateway-error';
  return s >= 500 ? 'server-error' : 'success';
}

/** An order-sensitive 32-bit hash of the endpoints' ip:port, without building strings. */
function fingerprint(list: readonly Endpoint[]): number {
  let h = 0x811c9dc5;
  for (const e of list) {
    const ip = e.ip;
    for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x3a, 0x01000193);
    h = Math.imul(h ^ (e.port & 0xff), 0x01000193);
    h = Math.imul(h ^ (e.port >>> 8), 0x01000193);
    h = Math.imul(h ^ 0x2c, 0x01000193);
  }
  return h >>> 0;
}
