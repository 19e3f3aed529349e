// The golden signals per service over one refresh window of `kubectl ambient top`: the rates,
// success rate and latency quantiles a Grafana panel would show for the same window, computed
// from two rounds of /metrics scrapes (port 15020) of the mesh's proxies.
//
// Reads Istio's metrics as the proxies write them: istio_requests_total and
// istio_request_duration_milliseconds (waypoints, and the sidecars' L7 core, both
// reporter="waypoint"), and istio_tcp_connections_opened_total, istio_tcp_sent_bytes_total and
// istio_tcp_received_bytes_total (ztunnel reporter="source"/"destination", waypoints and sidecars).
import { counterIncreases } from './counter-increase.ts';
import { type Bucket, histogramQuantile } from './histogram-quantile.ts';
import type { Sample } from './prometheus-text.ts';

/** One proxy's /metrics at one time. */
export interface Scrape {
  /** Which proxy (e.g. its pod's namespace/name): scrapes of one proxy share it. */
  source: string;
  /** When it was scraped, in milliseconds. */
  at: number;
  samples: Sample[];
}

export interface ServiceSignals {
  /** destination_service (echo.demo.svc.cluster.local), or name.namespace when only those labels are set. */
  service: string;
  /** HTTP requests per second (istio_requests_total). */
  rps: number;
  /** The share of requests not answered 5xx; undefined when there were none. */
  successRate: number | undefined;
  /** Request duration quantiles, interpolated in the buckets as histogram_quantile() does; undefined when there were no requests. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  /** TCP connections opened per second. */
  tcpConnectionsPerSecond: number;
  /** TCP bytes per second, both directions (sent + received). */
  tcpBytesPerSecond: number;
}

const REQUESTS = 'istio_requests_total';
const DURATION_BUCKET = 'istio_request_duration_milliseconds_bucket';
const TCP_OPENED = 'istio_tcp_connections_opened_total';
const TCP_SENT = 'istio_tcp_sent_bytes_total';
const TCP_RECEIVED = 'istio_tcp_received_bytes_total';
const READ: ReadonlySet<string> = new Set([REQUESTS, DURATION_BUCKET, TCP_OPENED, TCP_SENT, TCP_RECEIVED]);

/**
 * Per service, the signals of the window between `before` and `after`, summed over the proxies,
 * busiest (rps) first, then by name. A proxy counts when both rounds scraped it (matched by
 * `source`) and time passed between the two: a rate needs two points, and a proxy scraped only
 * in `after` may have run for hours, so its totals say nothing about the window. It will count
 * from the next refresh on. A service is listed when a matched proxy reports it, traffic or not.
 * Should a round hold a proxy twice, its last scrape stands, so the proxy is not counted twice.
 */
export function goldenSignals(before: Scrape[], after: Scrape[]): ServiceSignals[] {
  const earlier = new Map(before.map((s) => [s.source, s]));
  const later = new Map(after.map((s) => [s.source, s]));
  const tallies = new Map<string, ServiceTally>();
  for (const scrape of later.values()) {
    const previous = earlier.get(scrape.source);
    if (previous !== undefined) for (const rate of perSecond(previous, scrape)) add(tallies, rate);
  }
  return [...tallies].map(([service, t]) => signalsOf(service, t)).sort(busiestFirst);
}

/** One proxy's series that `top` reads, valued at their increase per second over its own window. */
function perSecond(before: Scrape, after: Scrape): Sample[] {
  const seconds = (after.at - before.at) / 1000;
  // Same time, or a clock that went back: there is no window to divide by.
  if (!(seconds > 0)) return [];
  const read = (s: Sample): boolean => READ.has(s.name);
  return counterIncreases(before.samples.filter(read), after.samples.filter(read)).map((s) => ({ ...s, value: s.value / seconds }));
}

/** A service's rates, per reporter, summed over the proxies. */
interface ServiceTally {
  http: Map<string, HttpTally>;
  tcp: Map<string, TcpTally>;
}

interface HttpTally {
  requests: number;
  serverErrors: number;
  /** Per `le`, the increase per second of the cumulative bucket. */
  buckets: Map<number, number>;
}

interface TcpTally {
  opened: number;
  bytes: number;
}

function add(tallies: Map<string, ServiceTally>, rate: Sample): void {
  const service = serviceOf(rate.labels);
  // Traffic to no known service (a pod IP dialled directly, passthrough) has no row to go in.
  if (service === undefined) return;
  let t = tallies.get(service);
  if (t === undefined) tallies.set(service, (t = { http: new Map(), tcp: new Map() }));
  const reporter = rate.labels.reporter ?? '';
  const v = rate.value;
  switch (rate.name) {
    case REQUESTS: {
      const h = httpTally(t, reporter);
      h.requests += v;
      if (isServerError(rate.labels.response_code)) h.serverErrors += v;
      break;
    }
    case DURATION_BUCKET: {
      const h = httpTally(t, reporter);
      const le = parseLe(rate.labels.le);
      if (le !== undefined) h.buckets.set(le, (h.buckets.get(le) ?? 0) + v);
      break;
    }
    case TCP_OPENED:
      tcpTally(t, reporter).opened += v;
      break;
    case TCP_SENT:
    case TCP_RECEIVED:
      // The two directions of the same connections: together, the bytes the service moved.
      tcpTally(t, reporter).bytes += v;
      break;
  }
}

function httpTally(t: ServiceTally, reporter: string): HttpTally {
  let h = t.http.get(reporter);
  if (h === undefined) t.http.set(reporter, (h = { requests: 0, serverErrors: 0, buckets: new Map() }));
  return h;
}

function tcpTally(t: ServiceTally, reporter: string): TcpTally {
  let c = t.tcp.get(reporter);
  if (c === undefined) t.tcp.set(reporter, (c = { opened: 0, bytes: 0 }));
  return c;
}

const UNKNOWN = 'unknown';

/**
 * The row a series belongs to. The proxies write 'unknown' when they could not tell the service
 * (ztunnel for a pod IP dialled directly, the waypoint rather than trust a Host header); ztunnel
 * sets destination_service only, the waypoint also the name and namespace.
 */
function serviceOf(labels: Record<string, string>): string | undefined {
  const host = labels.destination_service;
  if (host && host !== UNKNOWN) return host;
  const name = labels.destination_service_name;
  const namespace = labels.destination_service_namespace;
  if (name && namespace && name !== UNKNOWN && namespace !== UNKNOWN) return `${name}.${namespace}`;
  return undefined;
}

/**
 * As Istio's dashboards count errors (response_code=~"5.*"): a request without a response
 * (code 0, the client went away) or a 4xx is not the service failing.
 */
function isServerError(code: string | undefined): boolean {
  return code !== undefined && code.length === 3 && code[0] === '5';
}

function parseLe(le: string | undefined): number | undefined {
  if (le === undefined) return undefined;
  const n = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
  return le.trim() === '' || Number.isNaN(n) ? undefined : n;
}

/**
 * The reporter whose view of a service `top` shows, most preferred first. One request (one
 * connection) is reported by several proxies on its way, so adding the reporters up would count
 * it two or three times; each signal takes one reporter's numbers instead:
 *
 * - waypoint: with a waypoint every request to the service passes it exactly once, and it sees
 *   what the client got, including the 503s, 429s and injected faults the waypoint answered
 *   itself, which never reach the destination. (The sidecars' L7 core also reports as
 *   "waypoint", client side, for services without a waypoint, so a request meets one of them.)
 * - destination: the server's side, one report per request or connection however many clients;
 *   Istio's dashboards read reporter="destination" for a service's inbound traffic.
 * - source: the client's side, all there is when the server is outside the mesh.
 *
 * Other values come after these, alphabetically, so the choice is deterministic.
 */
const REPORTER_PREFERENCE: readonly string[] = ['waypoint', 'destination', 'source'];

/**
 * The most preferred reporter that saw traffic in the window. A reporter without traffic is
 * passed over: a service whose waypoint was removed leaves the waypoint's old series standing,
 * unchanging, and they must not hide the destination's live ones.
 */
function preferredActive<T>(byReporter: Map<string, T>, active: (t: T) => boolean): T | undefined {
  const reporters = [...byReporter.keys()].filter((r) => active(byReporter.get(r)!)).sort(byPreference);
  return reporters.length === 0 ? undefined : byReporter.get(reporters[0]!);
}

function byPreference(a: string, b: string): number {
  return preferenceRank(a) - preferenceRank(b) || compareStrings(a, b);
}

function preferenceRank(reporter: string): number {
  const i = REPORTER_PREFERENCE.indexOf(reporter);
  return i === -1 ? REPORTER_PREFERENCE.length : i;
}

function signalsOf(service: string, t: ServiceTally): ServiceSignals {
  // HTTP and TCP choose their reporter apart: a service behind a waypoint has its requests from
  // the waypoint but its connections from the ztunnels, as the waypoint reports L4 relays only.
  const http = preferredActive(t.http, (h) => h.requests > 0);
  const tcp = preferredActive(t.tcp, (c) => c.opened > 0 || c.bytes > 0);
  const requests = http?.requests ?? 0;
  const buckets: Bucket[] = http === undefined ? [] : [...http.buckets].map(([le, count]) => ({ le, count }));
  return {
    service,
    rps: requests,
    successRate: http === undefined ? undefined : (requests - http.serverErrors) / requests,
    p50Ms: histogramQuantile(0.5, buckets),
    p99Ms: histogramQuantile(0.99, buckets),
    tcpConnectionsPerSecond: tcp?.opened ?? 0,
    tcpBytesPerSecond: tcp?.bytes ?? 0,
  };
}

function busiestFirst(a: ServiceSignals, b: ServiceSignals): number {
  return b.rps - a.rps || compareStrings(a.service, b.service);
}

// Code-unit order, not localeCompare: the same rows in the same order whatever the terminal's locale.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
