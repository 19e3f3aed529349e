import assert from 'node:assert/strict';
import { goldenSignals, type Scrape, type ServiceSignals } from '../../src/top/golden-signals.ts';
import type { Sample } from '../../src/top/prometheus-text.ts';

const ECHO = 'echo.demo.svc.cluster.local';
const REVIEWS = 'reviews.shop.svc.cluster.local';

// Labels as the proxies write them, cut to those `top` reads plus one that splits series.
const waypoint = (service = ECHO): Record<string, string> => ({
  reporter: 'waypoint',
  source_workload: 'client',
  destination_service: service,
  destination_service_name: service.split('.')[0]!,
  destination_service_namespace: service.split('.')[1]!,
});
const ztunnel = (reporter: 'source' | 'destination', service = ECHO): Record<string, string> => ({
  reporter,
  source_workload: 'client',
  destination_service: service,
});

function requests(labels: Record<string, string>, code: string, value: number): Sample {
  return { name: 'istio_requests_total', labels: { ...labels, response_code: code }, value };
}

/** A duration histogram's buckets, from [le, cumulative count] pairs. */
function durations(labels: Record<string, string>, code: string, cumulative: [string, number][]): Sample[] {
  return cumulative.map(([le, value]) => ({ name: 'istio_request_duration_milliseconds_bucket', labels: { ...labels, response_code: code, le }, value }));
}

function tcp(labels: Record<string, string>, opened: number, sent: number, received: number): Sample[] {
  return [
    { name: 'istio_tcp_connections_opened_total', labels, value: opened },
    { name: 'istio_tcp_connections_closed_total', labels, value: opened },
    { name: 'istio_tcp_sent_bytes_total', labels, value: sent },
    { name: 'istio_tcp_received_bytes_total', labels, value: received },
  ];
}

const scrape = (source: string, seconds: number, samples: Sample[]): Scrape => ({ source, at: 1_700_000_000_000 + seconds * 1000, samples });

const idle = (service: string): ServiceSignals => ({
  service,
  rps: 0,
  successRate: undefined,
  p50Ms: undefined,
  p99Ms: undefined,
  tcpConnectionsPerSecond: 0,
  tcpBytesPerSecond: 0,
});

/** Rates are quotients: compare them to 9 decimals. */
function rounded(rows: ServiceSignals[]): ServiceSignals[] {
  const r = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 1e9) / 1e9);
  return rows.map((x) => ({
    ...x,
    rps: r(x.rps)!,
    successRate: r(x.successRate),
    p50Ms: r(x.p50Ms),
    p99Ms: r(x.p99Ms),
    tcpConnectionsPerSecond: r(x.tcpConnectionsPerSecond)!,
    tcpBytesPerSecond: r(x.tcpBytesPerSecond)!,
  }));
}

function only(rows: ServiceSignals[]): ServiceSignals {
  assert.equal(rows.length, 1, JSON.stringify(rows));
  return rounded(rows)[0]!;
}

describe('goldenSignals', () => {
  it('reports requests per second over the window', () => {
    const before = [scrape('waypoint-0', 0, [requests(waypoint(), '200', 100)])];
    const after = [scrape('waypoint-0', 10, [requests(waypoint(), '200', 150)])];
    assert.deepEqual(only(goldenSignals(before, after)), { ...idle(ECHO), rps: 5, successRate: 1 });
  });

  it('counts only 5xx against the success rate, as Istio dashboards do (4xx and code 0 are not the service failing)', () => {
    const w = waypoint();
    const before = [scrape('waypoint-0', 0, [requests(w, '200', 1000), requests(w, '404', 3), requests(w, '0', 1), requests(w, '500', 2)])];
    // +80 × 200, +5 × 404, +5 × 0, +8 × 503 (a series new in the window), +2 × 500: 10 of 100 failed.
    const after = [
      scrape('waypoint-0', 10, [requests(w, '200', 1080), requests(w, '404', 8), requests(w, '0', 6), requests(w, '503', 8), requests(w, '500', 4)]),
    ];
    const row = only(goldenSignals(before, after));
    assert.equal(row.rps, 10);
    assert.equal(row.successRate, 0.9);
  });

  it('computes p50 and p99 from the bucket increases of all the service’s series, as histogram_quantile does', () => {
    const w = waypoint();
    // Increases in the window, 200s plus 503s: 10 requests in (1, 5], 50 in (5, 10], 30 in
    // (10, 25], 8 in (25, 50], 2 in (50, 100]; cumulative 10, 60, 90, 98, 100.
    // p50: rank 50 lies in (5, 10], holding ranks 11..60: 5 + 5 × (50 − 10) / 50 = 9 ms.
    // p99: rank 99 lies in (50, 100], holding ranks 99..100: 50 + 50 × (99 − 98) / 2 = 75 ms.
    // (Per second, every count is a tenth of that; the quantiles do not change.)
    const before = [
      scrape('waypoint-0', 0, [
        requests(w, '200', 500),
        ...durations(w, '200', [
          ['1', 7],
          ['5', 20],
          ['10', 300],
          ['25', 450],
          ['50', 490],
          ['100', 500],
          ['+Inf', 500],
        ]),
        requests(w, '503', 1),
        ...durations(w, '503', [
          ['1', 0],
          ['5', 0],
          ['10', 1],
          ['25', 1],
          ['50', 1],
          ['100', 1],
          ['+Inf', 1],
        ]),
      ]),
    ];
    const after = [
      scrape('waypoint-0', 10, [
        requests(w, '200', 590),
        ...durations(w, '200', [
          ['1', 7],
          ['5', 30],
          ['10', 355],
          ['25', 535],
          ['50', 580],
          ['100', 590],
          ['+Inf', 590],
        ]),
        requests(w, '503', 11),
        ...durations(w, '503', [
          ['1', 0],
          ['5', 0],
          ['10', 6],
          ['25', 6],
          ['50', 9],
          ['100', 11],
          ['+Inf', 11],
        ]),
      ]),
    ];
    assert.deepEqual(only(goldenSignals(before, after)), { ...idle(ECHO), rps: 10, successRate: 0.9, p50Ms: 9, p99Ms: 75 });
  });

  it('answers p99 with the highest finite bound when it lies in the +Inf bucket', () => {
    const w = waypoint();
    const before = [
      scrape('waypoint-0', 0, [
        requests(w, '200', 0),
        ...durations(w, '200', [
          ['100', 0],
          ['+Inf', 0],
        ]),
      ]),
    ];
    const after = [
      scrape('waypoint-0', 1, [
        requests(w, '200', 10),
        ...durations(w, '200', [
          ['100', 5],
          ['+Inf', 10],
        ]),
      ]),
    ];
    const row = only(goldenSignals(before, after));
    assert.equal(row.p50Ms, 100);
    assert.equal(row.p99Ms, 100);
  });

  it('counts a proxy that restarted in the window from zero, its histogram included', () => {
    const w = waypoint();
    const before = [
      scrape('waypoint-0', 0, [
        requests(w, '200', 1000),
        ...durations(w, '200', [
          ['5', 2],
          ['10', 10],
          ['+Inf', 1000],
        ]),
      ]),
    ];
    // Restarted: 20 requests since, 5 of them at most 5 ms and 20 at most 10 ms. Had le=10 kept
    // only its difference (20 − 10), p50 would be in (10, +Inf].
    const after = [
      scrape('waypoint-0', 10, [
        requests(w, '200', 20),
        ...durations(w, '200', [
          ['5', 5],
          ['10', 20],
          ['+Inf', 20],
        ]),
      ]),
    ];
    const row = only(goldenSignals(before, after));
    assert.equal(row.rps, 2);
    // rank 10 of 20 lies in (5, 10], holding ranks 6..20: 5 + 5 × (10 − 5) / 15 = 6.667.
    assert.equal(row.p50Ms, 6.666666667);
  });

  it('sums the proxies of a service, each over its own window, matched by source whatever the order', () => {
    const w = waypoint();
    const before = [scrape('waypoint-0', 0, [requests(w, '200', 100)]), scrape('waypoint-1', 2, [requests(w, '200', 7)])];
    // waypoint-0: +50 in 10 s; waypoint-1 (scraped a little later both times): +30 in 5 s.
    const after = [scrape('waypoint-1', 7, [requests(w, '200', 37)]), scrape('waypoint-0', 10, [requests(w, '200', 150)])];
    assert.equal(only(goldenSignals(before, after)).rps, 5 + 6);
  });

  it('leaves out a proxy scraped only once: its totals may span hours, not the window', () => {
    const before = [scrape('waypoint-0', 0, [requests(waypoint(), '200', 100)]), scrape('gone', 0, [requests(waypoint(REVIEWS), '200', 5)])];
    const after = [scrape('waypoint-0', 10, [requests(waypoint(), '200', 150)]), scrape('new', 10, [requests(waypoint(), '200', 1_000_000)])];
    assert.deepEqual(
      goldenSignals(before, after).map((r) => [r.service, r.rps]),
      [[ECHO, 5]],
    );
  });

  it('counts a proxy scraped twice in one round once, from its last scrape', () => {
    const before = [scrape('waypoint-0', 0, [requests(waypoint(), '200', 999)]), scrape('waypoint-0', 0, [requests(waypoint(), '200', 100)])];
    const after = [scrape('waypoint-0', 10, [requests(waypoint(), '200', 0)]), scrape('waypoint-0', 10, [requests(waypoint(), '200', 150)])];
    assert.equal(only(goldenSignals(before, after)).rps, 5);
  });

  it('lists a service without requests in the window, with no success rate and no latency', () => {
    const w = waypoint();
    const samples = [
      requests(w, '200', 100),
      ...durations(w, '200', [
        ['10', 60],
        ['+Inf', 100],
      ]),
      ...tcp(ztunnel('destination'), 4, 10, 20),
    ];
    assert.deepEqual(goldenSignals([scrape('p', 0, samples)], [scrape('p', 10, samples)]), [idle(ECHO)]);
  });

  it('takes one reporter per service: the waypoint’s view over the ztunnels’ and sidecars’, so a request counts once', () => {
    // The same 100 requests seen by the waypoint and by the destination's sidecar; the waypoint
    // also answered 10 itself (503, circuit open) that never reached the destination.
    const before = [
      scrape('waypoint', 0, [requests(waypoint(), '200', 0)]),
      scrape('server-sidecar', 0, [requests({ ...waypoint(), reporter: 'destination' }, '200', 0)]),
    ];
    const after = [
      scrape('waypoint', 10, [requests(waypoint(), '200', 90), requests(waypoint(), '503', 10)]),
      scrape('server-sidecar', 10, [requests({ ...waypoint(), reporter: 'destination' }, '200', 90)]),
    ];
    const row = only(goldenSignals(before, after));
    assert.equal(row.rps, 10);
    assert.equal(row.successRate, 0.9);
  });

  it('takes the destination’s view over the source’s without a waypoint', () => {
    const src = { ...waypoint(), reporter: 'source' };
    const dst = { ...waypoint(), reporter: 'destination' };
    // Client sidecars report 30 requests; the server's reports those 30 and 10 from a client outside the mesh.
    const before = [scrape('client', 0, [requests(src, '200', 0)]), scrape('server', 0, [requests(dst, '200', 0)])];
    const after = [scrape('client', 10, [requests(src, '200', 30)]), scrape('server', 10, [requests(dst, '200', 40)])];
    assert.equal(only(goldenSignals(before, after)).rps, 4);
  });

  it('passes over a reporter without traffic in the window: a removed waypoint’s stale series do not hide the live ones', () => {
    const dst = { ...waypoint(), reporter: 'destination' };
    const stale = [requests(waypoint(), '200', 5000), requests(waypoint(), '503', 5000)];
    const before = [scrape('old-waypoint', 0, stale), scrape('server', 0, [requests(dst, '200', 0)])];
    const after = [scrape('old-waypoint', 10, stale), scrape('server', 10, [requests(dst, '200', 50)])];
    assert.deepEqual(only(goldenSignals(before, after)), { ...idle(ECHO), rps: 5, successRate: 1 });
  });

  it('reads TCP from one side of each connection: connections opened and bytes both ways', () => {
    // Node 1's ztunnel (client side) and node 2's (server side) report the same 20 connections,
    // 1000 bytes toward the server and 3000 back.
    const before = [scrape('ztunnel-node-1', 0, tcp(ztunnel('source'), 0, 0, 0)), scrape('ztunnel-node-2', 0, tcp(ztunnel('destination'), 0, 0, 0))];
    const after = [
      scrape('ztunnel-node-1', 10, tcp(ztunnel('source'), 20, 1000, 3000)),
      scrape('ztunnel-node-2', 10, tcp(ztunnel('destination'), 20, 3000, 1000)),
    ];
    assert.deepEqual(only(goldenSignals(before, after)), { ...idle(ECHO), tcpConnectionsPerSecond: 2, tcpBytesPerSecond: 400 });
  });

  it('chooses the reporters of requests and of connections apart: a waypoint’s requests, the ztunnels’ connections', () => {
    const before = [scrape('waypoint', 0, [requests(waypoint(), '200', 0)]), scrape('ztunnel-node-2', 0, tcp(ztunnel('destination'), 0, 0, 0))];
    const after = [scrape('waypoint', 10, [requests(waypoint(), '200', 100)]), scrape('ztunnel-node-2', 10, tcp(ztunnel('destination'), 3, 500, 1500))];
    assert.deepEqual(only(goldenSignals(before, after)), { ...idle(ECHO), rps: 10, successRate: 1, tcpConnectionsPerSecond: 0.3, tcpBytesPerSecond: 200 });
  });

  it('names a service name.namespace when only those labels are set, and leaves out traffic to no known service', () => {
    const byName = { reporter: 'waypoint', destination_service_name: 'echo', destination_service_namespace: 'demo' };
    const unknown = { ...waypoint(), destination_service: 'unknown', destination_service_name: 'unknown', destination_service_namespace: 'unknown' };
    const before = [
      scrape('p', 0, [requests(byName, '200', 0), requests(unknown, '200', 0), ...tcp({ reporter: 'destination', destination_service: 'unknown' }, 0, 0, 0)]),
    ];
    const after = [
      scrape('p', 1, [requests(byName, '200', 3), requests(unknown, '200', 9), ...tcp({ reporter: 'destination', destination_service: 'unknown' }, 1, 1, 1)]),
    ];
    assert.deepEqual(
      goldenSignals(before, after).map((r) => [r.service, r.rps]),
      [['echo.demo', 3]],
    );
  });

  it('sorts the busiest service first, then by name', () => {
    const services = ['d.x.svc.cluster.local', 'c.x.svc.cluster.local', 'a.x.svc.cluster.local', 'b.x.svc.cluster.local'];
    const added: Record<string, number> = { 'a.x.svc.cluster.local': 0, 'b.x.svc.cluster.local': 50, 'c.x.svc.cluster.local': 50, 'd.x.svc.cluster.local': 0 };
    const before = [
      scrape(
        'p',
        0,
        services.map((s) => requests(waypoint(s), '200', 10)),
      ),
    ];
    const after = [
      scrape(
        'p',
        10,
        services.map((s) => requests(waypoint(s), '200', 10 + added[s]!)),
      ),
    ];
    assert.deepEqual(
      goldenSignals(before, after).map((r) => [r.service, r.rps]),
      [
        ['b.x.svc.cluster.local', 5],
        ['c.x.svc.cluster.local', 5],
        ['a.x.svc.cluster.local', 0],
        ['d.x.svc.cluster.local', 0],
      ],
    );
  });

  it('leaves out a proxy whose two scrapes have no time between them, or run backwards', () => {
    const before = [scrape('same', 5, [requests(waypoint(), '200', 0)]), scrape('backwards', 5, [requests(waypoint(REVIEWS), '200', 0)])];
    const after = [scrape('same', 5, [requests(waypoint(), '200', 10)]), scrape('backwards', 4, [requests(waypoint(REVIEWS), '200', 10)])];
    assert.deepEqual(goldenSignals(before, after), []);
  });

  it('has nothing to show from no scrapes', () => {
    assert.deepEqual(goldenSignals([], []), []);
  });
});
