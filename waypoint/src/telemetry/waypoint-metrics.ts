// The waypoint's metrics on its own prom-client Registry: Istio's request and TCP metrics with
// reporter="waypoint" (names, labels and buckets as Istio's Envoy waypoint reports them), and
// the waypoint's own counters.
//
// Why the Istio metrics are not prom-client Counters and Histograms: every prom-client call
// validates and hashes its label object (25 labels: sort, join, lookup), and a label-bound child
// does it again on each call, so four metrics per request would cost tens of microseconds. Here
// a record's key parts (istio-labels.ts) lead through a few Map lookups to the series that holds
// all four metrics of that label tuple, and the update is a few additions. The series render
// into the same Registry at scrape time through prom-client's metric contract (get, reset), so
// /metrics output is prom-client's.
import { Counter, Gauge, type Metric, Registry } from 'prom-client';
import {
  REQUEST_KEY_PARTS,
  type RequestLabel,
  requestLabels,
  requestSeriesKey,
  TCP_KEY_PARTS,
  type TcpLabel,
  tcpLabels,
  tcpSeriesKey,
} from './istio-labels.ts';
import type { OverflowReason } from '../policy/circuit-breaker.ts';
import type { RequestRecord, TcpConnectionRecord } from './request-record.ts';

/**
 * Envoy's default histogram buckets, which Istio keeps for all three of its histograms (duration
 * in milliseconds, sizes in bytes) unless sidecar.istio.io/statsHistogramBuckets says otherwise.
 */
export const ISTIO_DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/**
 * What became of a failed attempt, as the retry layer counts it: `retried` (one more attempt was
 * made), `budget_exhausted` (a retry was due but the retry budget or maxRetries refused it),
 * `attempts_exhausted` (the route's attempts were used up: URX), `not_retryable` (the failure or
 * the request does not allow a retry).
 */
export type RetryOutcome = 'retried' | 'budget_exhausted' | 'attempts_exhausted' | 'not_retryable';

/** Why outlier detection ejected an endpoint (the balancer's EjectionReason). */
export type OutlierEjectionReason = 'consecutive_5xx' | 'consecutive_gateway_errors';

export interface WaypointMetricsOptions {
  registry?: Registry;
  /**
   * Label tuples kept per family (request, TCP). Discovery bounds the values, so this is a guard,
   * not a limit a healthy mesh meets: past it the oldest series is dropped (counted in
   * waypoint_metric_series_evicted_total) and Prometheus sees a counter reset if it comes back.
   */
  maxSeries?: number;
}

export interface WaypointMetrics {
  readonly registry: Registry;
  /** istio_requests_total, the three request histograms and, for a denial, waypoint_requests_denied_total. */
  observeRequest(r: RequestRecord): void;
  /** istio_tcp_connections_opened_total. */
  tcpOpened(r: TcpConnectionRecord): void;
  /** istio_tcp_connections_closed_total and the byte counters. */
  tcpClosed(r: TcpConnectionRecord): void;
  /** waypoint_retries_total: `destinationService` is the service hostname. */
  countRetry(destinationService: string, outcome: RetryOutcome): void;
  /** waypoint_faults_injected_total. */
  countFault(destinationService: string, kind: 'delay' | 'abort'): void;
  /** waypoint_circuit_breaker_overflow_total (a 503 UO, or a retry maxRetries refused). */
  countOverflow(destinationService: string, reason: OverflowReason): void;
  /** waypoint_rate_limited_total. */
  countRateLimited(policy: string, limit: string): void;
  /** waypoint_rate_limit_store_errors_total: `failedOpen` = the request was admitted. */
  countRateLimitStoreError(policy: string, failedOpen: boolean): void;
  /** waypoint_rate_limit_store_up{address}: 1 while the waypoint holds a connection to that Redis. */
  rateLimitStoreUp(address: string, up: boolean): void;
  /** waypoint_outlier_ejections_total. */
  countOutlierEjection(destinationService: string, reason: OutlierEjectionReason): void;
  /** waypoint_outlier_returns_total. */
  countOutlierReturn(destinationService: string): void;
  /** waypoint_lb_panic_total: a pick served from every endpoint because too few were healthy. */
  countLbPanic(destinationService: string): void;
  /**
   * waypoint_outlier_ejected, read from `read` at each scrape (service hostname → endpoints
   * ejected now): the balancer holds that state, so the gauge cannot drift from it.
   */
  readOutlierEjected(read: () => Iterable<readonly [string, number]>): void;
  /** Label tuples held now, per family. */
  seriesCount(): { requests: number; tcp: number };
}

export function createWaypointMetrics(options: WaypointMetricsOptions = {}): WaypointMetrics {
  return new Metrics(options.registry ?? new Registry(), options.maxSeries ?? 10_000);
}

class HistogramData {
  readonly bounds: readonly number[];
  /** Per bucket, not cumulative; the last slot is above every bound (+Inf only). */
  readonly counts: Float64Array;
  sum = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
  }
}

class RequestSeries {
  requests = 0;
  readonly duration = new HistogramData(ISTIO_DEFAULT_BUCKETS);
  readonly requestBytes = new HistogramData(ISTIO_DEFAULT_BUCKETS);
  readonly responseBytes = new HistogramData(ISTIO_DEFAULT_BUCKETS);
  readonly labels: Readonly<Record<RequestLabel, string>>;

  constructor(labels: Readonly<Record<RequestLabel, string>>) {
    this.labels = labels;
  }
}

class TcpSeries {
  opened = 0;
  closed = 0;
  sent = 0;
  received = 0;
  readonly labels: Readonly<Record<TcpLabel, string>>;

  constructor(labels: Readonly<Record<TcpLabel, string>>) {
    this.labels = labels;
  }
}

/**
 * Series by key parts, one Map level per part, at most `max` of them. `#order` holds them in
 * insertion order (the first is the oldest) with the parts that lead to them, for eviction.
 */
class SeriesStore<S> {
  readonly #root = new Map<string, unknown>();
  readonly #order = new Map<S, readonly string[]>();
  readonly #max: number;
  readonly #onEvict: () => void;

  constructor(max: number, onEvict: () => void) {
    this.#max = max;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#order.size;
  }

  get(parts: readonly string[]): S | undefined {
    let node: Map<string, unknown> | undefined = this.#root;
    const last = parts.length - 1;
    for (let i = 0; i < last && node !== undefined; i++) node = node.get(parts[i]!) as Map<string, unknown> | undefined;
    return node?.get(parts[last]!) as S | undefined;
  }

  /** Adds a series for parts that get() did not find; `parts` may be reused after. */
  add(parts: readonly string[], series: S): S {
    if (this.#order.size >= this.#max) {
      const [oldest, path] = this.#order.entries().next().value!;
      this.#order.delete(oldest);
      this.#remove(this.#root, path, 0);
      this.#onEvict();
    }
    let node = this.#root;
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(parts[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(parts[i]!, (next = new Map()));
      node = next;
    }
    node.set(parts[last]!, series);
    this.#order.set(series, parts.slice());
    return series;
  }

  values(): IterableIterator<S> {
    return this.#order.keys();
  }

  clear(): void {
    this.#root.clear();
    this.#order.clear();
  }

  /** Deletes the leaf at `path` and the levels it leaves empty. */
  #remove(node: Map<string, unknown>, path: readonly string[], i: number): void {
    if (i === path.length - 1) {
      node.delete(path[i]!);
      return;
    }
    const next = node.get(path[i]!) as Map<string, unknown>;
    this.#remove(next, path, i + 1);
    if (next.size === 0) node.delete(path[i]!);
  }
}

class Metrics implements WaypointMetrics {
  readonly registry: Registry;
  readonly #requests: SeriesStore<RequestSeries>;
  readonly #tcp: SeriesStore<TcpSeries>;
  readonly #retries: Counter<'destination_service' | 'outcome'>;
  readonly #denied: Counter<'destination_service' | 'policy'>;
  readonly #faults: Counter<'destination_service' | 'kind'>;
  readonly #overflows: Counter<'destination_service' | 'reason'>;
  readonly #rateLimited: Counter<'policy' | 'limit'>;
  readonly #storeErrors: Counter<'policy' | 'outcome'>;
  readonly #storeUp: Gauge<'address'>;
  readonly #ejections: Counter<'destination_service' | 'reason'>;
  readonly #returns: Counter<'destination_service'>;
  readonly #panics: Counter<'destination_service'>;
  #readEjected: (() => Iterable<readonly [string, number]>) | undefined;
  // Scratch for the key parts: filled and read within one call, so one array each suffices.
  readonly #requestKey: string[] = new Array(REQUEST_KEY_PARTS);
  readonly #tcpKey: string[] = new Array(TCP_KEY_PARTS);

  constructor(registry: Registry, maxSeries: number) {
    this.registry = registry;
    const evicted = new Counter({
      name: 'waypoint_metric_series_evicted_total',
      help: 'Istio metric label tuples dropped because the waypoint held maxSeries of them',
      labelNames: ['family'],
      registers: [registry],
    });
    this.#requests = new SeriesStore(maxSeries, () => evicted.inc({ family: 'request' }));
    this.#tcp = new SeriesStore(maxSeries, () => evicted.inc({ family: 'tcp' }));
    this.#retries = new Counter({
      name: 'waypoint_retries_total',
      help: 'Failed upstream attempts by what the retry policy made of them',
      labelNames: ['destination_service', 'outcome'],
      registers: [registry],
    });
    this.#denied = new Counter({
      name: 'waypoint_requests_denied_total',
      help: "Requests refused by L7 authorization, by the policy that denied ('none': no ALLOW policy matched)",
      labelNames: ['destination_service', 'policy'],
      registers: [registry],
    });
    this.#ejections = new Counter({
      name: 'waypoint_outlier_ejections_total',
      help: 'Endpoints ejected by outlier detection, by the check that tripped',
      labelNames: ['destination_service', 'reason'],
      registers: [registry],
    });
    this.#returns = new Counter({
      name: 'waypoint_outlier_returns_total',
      help: 'Ejected endpoints returned to load balancing',
      labelNames: ['destination_service'],
      registers: [registry],
    });
    this.#panics = new Counter({
      name: 'waypoint_lb_panic_total',
      help: 'Picks served from every endpoint, ejected ones included, because too few were healthy',
      labelNames: ['destination_service'],
      registers: [registry],
    });
    const readEjected = (): Iterable<readonly [string, number]> => this.#readEjected?.() ?? [];
    new Gauge({
      name: 'waypoint_outlier_ejected',
      help: 'Endpoints ejected by outlier detection now',
      labelNames: ['destination_service'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [service, n] of readEjected()) this.set({ destination_service: service }, n);
      },
    });

    this.#faults = new Counter({
      name: 'waypoint_faults_injected_total',
      help: 'Faults injected by a FaultInjectionPolicy, by kind (delay, abort)',
      labelNames: ['destination_service', 'kind'],
      registers: [registry],
    });
    this.#overflows = new Counter({
      name: 'waypoint_circuit_breaker_overflow_total',
      help: 'Requests refused fast (503 UO) or retries not made because a DestinationRule connectionPool limit was reached, by limit',
      labelNames: ['destination_service', 'reason'],
      registers: [registry],
    });
    this.#rateLimited = new Counter({
      name: 'waypoint_rate_limited_total',
      help: 'Requests answered 429 by a RateLimitPolicy, by policy (<namespace>/<name>) and limit',
      labelNames: ['policy', 'limit'],
      registers: [registry],
    });
    this.#storeErrors = new Counter({
      name: 'waypoint_rate_limit_store_errors_total',
      help: 'Requests whose rate limit store (Redis) failed or was too slow, by what the policy made of it (fail_open, fail_closed)',
      labelNames: ['policy', 'outcome'],
      registers: [registry],
    });
    this.#storeUp = new Gauge({
      name: 'waypoint_rate_limit_store_up',
      help: 'Whether the waypoint holds a connection to the rate limit store (Redis) at this address',
      labelNames: ['address'],
      registers: [registry],
    });

    const req = this.#requests;
    register(registry, new CounterView('istio_requests_total', 'Requests handled by the waypoint', req, (s) => s.requests));
    register(registry, new HistogramView('istio_request_duration_milliseconds', 'Request duration in milliseconds', req, (s) => s.duration));
    register(registry, new HistogramView('istio_request_bytes', 'Request body sizes in bytes', req, (s) => s.requestBytes));
    register(registry, new HistogramView('istio_response_bytes', 'Response body sizes in bytes', req, (s) => s.responseBytes));
    const tcp = this.#tcp;
    register(registry, new CounterView('istio_tcp_connections_opened_total', 'TCP connections opened', tcp, (s) => s.opened));
    register(registry, new CounterView('istio_tcp_connections_closed_total', 'TCP connections closed', tcp, (s) => s.closed));
    register(registry, new CounterView('istio_tcp_sent_bytes_total', 'Bytes sent to the client during TCP connections', tcp, (s) => s.sent));
    register(registry, new CounterView('istio_tcp_received_bytes_total', 'Bytes received from the client during TCP connections', tcp, (s) => s.received));
  }

  observeRequest(r: RequestRecord): void {
    const key = requestSeriesKey(r, this.#requestKey);
    const s = this.#requests.get(key) ?? this.#requests.add(key, new RequestSeries(requestLabels(r)));
    s.requests++;
    s.duration.observe(r.durationMs);
    s.requestBytes.observe(r.bytesReceived);
    s.responseBytes.observe(r.bytesSent);
    if (r.denied !== undefined) {
      const p = r.denied.policy;
      this.#denied.inc({ destination_service: s.labels.destination_service, policy: p === undefined ? 'none' : `${p.namespace}/${p.name}` });
    }
  }

  tcpOpened(r: TcpConnectionRecord): void {
    this.#tcpSeries(r).opened++;
  }

  tcpClosed(r: TcpConnectionRecord): void {
    const s = this.#tcpSeries(r);
    s.closed++;
    s.sent += r.bytesSent;
    s.received += r.bytesReceived;
  }

  countRetry(destinationService: string, outcome: RetryOutcome): void {
    this.#retries.inc({ destination_service: destinationService, outcome });
  }

  countFault(destinationService: string, kind: 'delay' | 'abort'): void {
    this.#faults.inc({ destination_service: destinationService, kind });
  }

  countOverflow(destinationService: string, reason: OverflowReason): void {
    this.#overflows.inc({ destination_service: destinationService, reason });
  }

  countRateLimited(policy: string, limit: string): void {
    this.#rateLimited.inc({ policy, limit });
  }

  countRateLimitStoreError(policy: string, failedOpen: boolean): void {
    this.#storeErrors.inc({ policy, outcome: failedOpen ? 'fail_open' : 'fail_closed' });
  }

  rateLimitStoreUp(address: string, up: boolean): void {
    this.#storeUp.set({ address }, up ? 1 : 0);
  }

  countOutlierEjection(destinationService: string, reason: OutlierEjectionReason): void {
    this.#ejections.inc({ destination_service: destinationService, reason });
  }

  countOutlierReturn(destinationService: string): void {
    this.#returns.inc({ destination_service: destinationService });
  }

  countLbPanic(destinationService: string): void {
    this.#panics.inc({ destination_service: destinationService });
  }

  readOutlierEjected(read: () => Iterable<readonly [string, number]>): void {
    this.#readEjected = read;
  }

  seriesCount(): { requests: number; tcp: number } {
    return { requests: this.#requests.size, tcp: this.#tcp.size };
  }

  #tcpSeries(r: TcpConnectionRecord): TcpSeries {
    const key = tcpSeriesKey(r, this.#tcpKey);
    return this.#tcp.get(key) ?? this.#tcp.add(key, new TcpSeries(tcpLabels(r)));
  }
}

// ---- exposition through prom-client's metric contract (what Registry.metrics() calls)

interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  /** Rendered after `labels`; prom-client caches its formatting per object, so each series' labels format once per scrape. */
  sharedLabels?: Record<string, string>;
  metricName?: string;
}

interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: ExportedValue[];
}

// prom-client types registerMetric for its own classes only; the registry itself needs just
// name, get/getForPromString and reset, which the views below provide.
function register(registry: Registry, view: object): void {
  registry.registerMetric(view as unknown as Metric);
}

class CounterView<S extends { labels: object }> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  // Writable: an OpenMetrics registry renames counters in place.
  name: string;
  readonly help: string;
  readonly store: SeriesStore<S>;
  readonly read: (s: S) => number;

  constructor(name: string, help: string, store: SeriesStore<S>, read: (s: S) => number) {
    this.name = name;
    this.help = help;
    this.store = store;
    this.read = read;
  }

  async get(): Promise<Exported> {
    const values: ExportedValue[] = [];
    for (const s of this.store.values()) values.push({ value: this.read(s), labels: s.labels as Record<string, string> });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.store.clear();
  }
}

const LE: ReadonlyArray<Record<string, string | number>> = [...ISTIO_DEFAULT_BUCKETS.map((le) => ({ le })), { le: '+Inf' }];
const NO_LABELS: Record<string, string> = {};

class HistogramView<S extends { labels: object }> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly store: SeriesStore<S>;
  readonly read: (s: S) => HistogramData;

  constructor(name: string, help: string, store: SeriesStore<S>, read: (s: S) => HistogramData) {
    this.name = name;
    this.help = help;
    this.store = store;
    this.read = read;
  }

  async getForPromString(): Promise<Exported> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.store.values()) {
      const h = this.read(s);
      const shared = s.labels as Record<string, string>;
      let cumulative = 0;
      for (let i = 0; i < h.counts.length; i++) {
        cumulative += h.counts[i]!;
        values.push({ value: cumulative, labels: LE[i]!, sharedLabels: shared, metricName: bucket });
      }
      values.push({ value: h.sum, labels: NO_LABELS, sharedLabels: shared, metricName: `${this.name}_sum` });
      values.push({ value: cumulative, labels: NO_LABELS, sharedLabels: shared, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The JSON form (getMetricsAsJSON) has no shared labels: spread them into each value. */
  async get(): Promise<Exported> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.store.clear();
  }
}
