// Circuit breaking: Istio's DestinationRule `trafficPolicy.connectionPool` limits, per destination
// service hostname, with Envoy's cluster circuit breakers' semantics adapted to this waypoint.
// A request over a limit is not sent: the caller answers 503 with flag UO at once, so that a slow
// or failing service sheds load instead of piling up requests (and memory) in the waypoint.
//
//   maxConnections          HTTP/1.1: each request in flight holds one upstream connection, so at
//                           most this many HTTP/1.1 requests in flight (to all endpoints of the
//                           service together); L4: at most this many relayed connections. Counted
//                           apart (Istio's clusters are per port, so an HTTP port and a TCP port
//                           never share one). Not applied to HTTP/2: one session per endpoint.
//   http1MaxPendingRequests HTTP/1.1 requests waiting for a connection slot, in a FIFO queue; past
//                           it → overflow 'pending'. A queued request leaves the queue when a slot
//                           frees or when its AbortSignal fires (deadline, client gone).
//   http2MaxRequests        Envoy's max_requests: requests in flight, any protocol; past it →
//                           overflow 'requests' (never queued; HTTP/1.1 checks it before its queue,
//                           as Envoy's connection pool does).
//   maxRetries              retries in flight (Envoy's concurrent retries); past it the retry is not
//                           made → overflow 'retries'.
//
// 0 or absent means unlimited, as in Istio (proto3 zero is "unset"; Istio's defaults are 2³²−1).
// Limits are per hostname: every port of a service shares them (Istio: one set per port).
// A config change applies to new admissions; what is in flight or queued stays and releases into
// the new limits (a raised limit admits queued requests at once; a lowered one admits nothing
// until the counts fall under it). A hostname without limits costs two map lookups and no
// allocation: it is not counted at all.
import type { ConnectionPool } from '@ambient/api';

export type OverflowReason = 'pending' | 'requests' | 'retries' | 'connections';

/** A slot held until released; release() is idempotent. */
export interface Admission {
  release(): void;
}

export interface CircuitBreakerStats {
  /** Requests in flight, any protocol. */
  active: number;
  /** HTTP/1.1 requests queued for a connection slot. */
  pending: number;
  /** Retries in flight. */
  retries: number;
  /** L4 connections open. */
  connections: number;
  /** HTTP/1.1 requests in flight (each holding a connection slot). */
  http1Active: number;
}

export interface CircuitBreakersOptions {
  /** Every overflow, for the metrics. */
  onOverflow?: (hostname: string, reason: OverflowReason) => void;
}

/** Envoy's connection-pool codecs as the caller sees them. */
export type BreakerProtocol = 'http1' | 'http2';

interface Limits {
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

const UNLIMITED: Limits = Object.freeze({ maxConnections: Infinity, maxPending: Infinity, maxRequests: Infinity, maxRetries: Infinity });

/** What a hostname without limits gets: nothing to release. */
const FREE: Admission = Object.freeze({ release(): void {} });

/** What a slot holds (numbers, so that a slot is two small fields). */
type Held = 0 | 1 | 2 | 3;
const HTTP1: Held = 0;
const HTTP2: Held = 1;
const RETRY: Held = 2;
const CONNECTION: Held = 3;

interface Waiter {
  readonly resolve: (admission: Admission) => void;
  readonly signal: AbortSignal;
  onAbort: () => void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

class Breaker {
  limits: Limits;
  active = 0;
  http1 = 0;
  retries = 0;
  connections = 0;
  pending = 0;
  /** The pending queue: a linked list, so that an aborted request leaves it in O(1). */
  head: Waiter | undefined;
  tail: Waiter | undefined;
  readonly hostname: string;
  readonly #idle: (b: Breaker) => void;

  constructor(hostname: string, limits: Limits, idle: (b: Breaker) => void) {
    this.hostname = hostname;
    this.limits = limits;
    this.#idle = idle;
  }

  get idle(): boolean {
    return this.active === 0 && this.retries === 0 && this.connections === 0 && this.pending === 0;
  }

  enqueue(signal: AbortSignal): Promise<Admission> {
    return new Promise<Admission>((resolve, reject) => {
      const w: Waiter = { resolve, signal, onAbort: noop, prev: this.tail, next: undefined };
      w.onAbort = () => {
        this.#unlink(w);
        reject(signal.reason);
        if (this.idle) this.#idle(this);
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      if (this.tail === undefined) this.head = w;
      else this.tail.next = w;
      this.tail = w;
      this.pending++;
    });
  }

  /** Admits queued HTTP/1.1 requests while both the connection and the request limits allow. */
  drain(): void {
    while (this.head !== undefined && this.http1 < this.limits.maxConnections && this.active < this.limits.maxRequests) {
      const w = this.head;
      this.#unlink(w);
      w.signal.removeEventListener('abort', w.onAbort);
      this.active++;
      this.http1++;
      w.resolve(new Slot(this, HTTP1));
    }
  }

  release(held: Held): void {
    switch (held) {
      case HTTP1:
        this.http1--;
        this.active--;
        break;
      case HTTP2:
        this.active--;
        break;
      case RETRY:
        this.retries--;
        break;
      case CONNECTION:
        this.connections--;
        break;
    }
    if (this.head !== undefined) this.drain();
    if (this.idle) this.#idle(this);
  }

  #unlink(w: Waiter): void {
    if (w.prev === undefined) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = undefined;
    w.next = undefined;
    this.pending--;
  }
}

class Slot implements Admission {
  #breaker: Breaker | undefined;
  readonly #held: Held;

  constructor(breaker: Breaker, held: Held) {
    this.#breaker = breaker;
    this.#held = held;
  }

  release(): void {
    const b = this.#breaker;
    if (b === undefined) return;
    this.#breaker = undefined;
    b.release(this.#held);
  }
}

export class CircuitBreakers {
  /** Hostnames with at least one limit. */
  #limits: ReadonlyMap<string, Limits> = new Map();
  /** Counters, for hostnames with limits or with admissions still held from before an update. */
  readonly #breakers = new Map<string, Breaker>();
  readonly #onOverflow: ((hostname: string, reason: OverflowReason) => void) | undefined;
  /** A limitless breaker left idle is forgotten (one function for all, not a closure each). */
  readonly #forgetIfIdle = (b: Breaker): void => {
    if (b.limits === UNLIMITED && b.idle && this.#breakers.get(b.hostname) === b) this.#breakers.delete(b.hostname);
  };

  constructor(options: CircuitBreakersOptions = {}) {
    this.#onOverflow = options.onOverflow;
  }

  /** Hostname → its DestinationRule's connectionPool (undefined or absent: no limits). */
  update(policies: ReadonlyMap<string, ConnectionPool | undefined>): void {
    const limits = new Map<string, Limits>();
    for (const [hostname, pool] of policies) {
      const l = limitsOf(pool);
      if (l !== UNLIMITED) limits.set(hostname, l);
    }
    this.#limits = limits;
    for (const b of [...this.#breakers.values()]) {
      b.limits = limits.get(b.hostname) ?? UNLIMITED;
      b.drain();
      this.#forgetIfIdle(b);
    }
  }

  /**
   * One upstream request (each try: a retry asks `retry()` first, then this). Synchronous unless
   * the HTTP/1.1 request has to queue: the promise resolves when a slot frees and rejects with
   * the signal's reason when it fires first. Release the admission when the try ends, however it
   * ends (a signal firing after the grant included).
   */
  request(hostname: string, protocol: BreakerProtocol, signal: AbortSignal): Admission | Promise<Admission> | 'overflow' {
    const b = this.#breaker(hostname);
    if (b === undefined) return FREE;
    const l = b.limits;
    if (b.active >= l.maxRequests) return this.#overflow(hostname, 'requests');
    if (protocol === 'http2') {
      b.active++;
      return new Slot(b, HTTP2);
    }
    // FIFO: a newcomer does not overtake the queue even if a slot is free this instant.
    if (b.http1 < l.maxConnections && b.head === undefined) {
      b.active++;
      b.http1++;
      return new Slot(b, HTTP1);
    }
    if (b.pending >= l.maxPending) return this.#overflow(hostname, 'pending');
    if (signal.aborted) return Promise.reject(signal.reason);
    return b.enqueue(signal);
  }

  /** A retry about to be made; hold it until that try ends. */
  retry(hostname: string): Admission | 'overflow' {
    const b = this.#breaker(hostname);
    if (b === undefined) return FREE;
    if (b.retries >= b.limits.maxRetries) return this.#overflow(hostname, 'retries');
    b.retries++;
    return new Slot(b, RETRY);
  }

  /** An L4 connection to relay; hold it until the connection closes. */
  connection(hostname: string): Admission | 'overflow' {
    const b = this.#breaker(hostname);
    if (b === undefined) return FREE;
    if (b.connections >= b.limits.maxConnections) return this.#overflow(hostname, 'connections');
    b.connections++;
    return new Slot(b, CONNECTION);
  }

  /** Hostnames with counters (limited, or still holding admissions from before an update). */
  get size(): number {
    return this.#breakers.size;
  }

  stats(hostname: string): CircuitBreakerStats {
    const b = this.#breakers.get(hostname);
    if (b === undefined) return { active: 0, pending: 0, retries: 0, connections: 0, http1Active: 0 };
    return { active: b.active, pending: b.pending, retries: b.retries, connections: b.connections, http1Active: b.http1 };
  }

  #breaker(hostname: string): Breaker | undefined {
    const b = this.#breakers.get(hostname);
    // One kept only for admissions held from before its policy went counts nothing new.
    if (b !== undefined) return b.limits === UNLIMITED ? undefined : b;
    const limits = this.#limits.get(hostname);
    if (limits === undefined) return undefined;
    const created = new Breaker(hostname, limits, this.#forgetIfIdle);
    this.#breakers.set(hostname, created);
    return created;
  }

  #overflow(hostname: string, reason: OverflowReason): 'overflow' {
    this.#onOverflow?.(hostname, reason);
    return 'overflow';
  }
}

/** A connectionPool's limits; UNLIMITED itself when it sets none. */
function limitsOf(pool: ConnectionPool | undefined): Limits {
  if (pool === undefined) return UNLIMITED;
  const l: Limits = {
    maxConnections: limit(pool.maxConnections),
    maxPending: limit(pool.http1MaxPendingRequests),
    maxRequests: limit(pool.http2MaxRequests),
    maxRetries: limit(pool.maxRetries),
  };
  return l.maxConnections === Infinity && l.maxPending === Infinity && l.maxRequests === Infinity && l.maxRetries === Infinity ? UNLIMITED : l;
}

function limit(v: number | undefined): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : Infinity;
}

function noop(): void {}
