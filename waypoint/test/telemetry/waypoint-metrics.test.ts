import assert from 'node:assert/strict';
import { id } from '@ambient/api/testing';
import { requestLabelNames, requestLabels, requestSeriesKey, tcpLabelNames, tcpLabels } from '../../src/telemetry/istio-labels.ts';
import { reportRequest, reportTcpConnection, reportTcpOpened } from '../../src/telemetry/report-request.ts';
import { type RequestRecord, workloadLabels } from '../../src/telemetry/request-record.ts';
import { createWaypointMetrics, ISTIO_DEFAULT_BUCKETS } from '../../src/telemetry/waypoint-metrics.ts';
import { memoryLogger, okRequest, productpage, reviews, samples, tcpConnection } from './fixtures.ts';

const OK_LABELS =
  'reporter="waypoint",source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",' +
  'source_workload_namespace="shop",source_principal="spiffe://cluster.local/ns/shop/sa/productpage",source_app="productpage",' +
  'source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-v2",destination_workload_namespace="shop",' +
  'destination_principal="spiffe://cluster.local/ns/shop/sa/reviews",destination_app="reviews",destination_version="v2",' +
  'destination_service="reviews.shop.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v2",' +
  'destination_service_name="reviews",destination_service_namespace="shop",destination_cluster="Kubernetes",request_protocol="http",' +
  'response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"';

describe('waypoint metrics', () => {
  it("reports a request under Istio's exact name and labels, reporter waypoint", async () => {
    const metrics = createWaypointMetrics();
    reportRequest(okRequest(), metrics, memoryLogger().logger);
    const text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'istio_requests_total'), [`istio_requests_total{${OK_LABELS}} 1`]);
    assert.match(text, /# TYPE istio_requests_total counter/);
    assert.match(text, /# TYPE istio_request_duration_milliseconds histogram/);
  });

  it("uses Istio's label set, in Istio's order, for requests and for TCP", () => {
    assert.deepEqual(Object.keys(requestLabels(okRequest())), [...requestLabelNames]);
    assert.deepEqual(Object.keys(tcpLabels(tcpConnection())), [...tcpLabelNames]);
    assert.equal(requestLabelNames.length, 25);
    assert.deepEqual(
      requestLabelNames.filter((l) => !(tcpLabelNames as readonly string[]).includes(l)),
      ['response_code', 'grpc_response_status'],
    );
  });

  it('observes duration and body sizes into the Envoy default buckets', async () => {
    const metrics = createWaypointMetrics();
    metrics.observeRequest(okRequest({ durationMs: 7.6, bytesReceived: 0, bytesSent: 345 }));
    metrics.observeRequest(okRequest({ durationMs: 120, bytesReceived: 10, bytesSent: 345 }));
    // A bound is inclusive (le): exactly 10 ms is in the 10 bucket.
    metrics.observeRequest(okRequest({ durationMs: 10, bytesReceived: 0, bytesSent: 345 }));
    const text = await metrics.registry.metrics();
    const bucket = (name: string, le: string) =>
      samples(text, `${name}_bucket`)
        .find((l) => l.startsWith(`${name}_bucket{le="${le}",`))
        ?.split(' ')
        .at(-1);
    assert.equal(bucket('istio_request_duration_milliseconds', '5'), '0');
    assert.equal(bucket('istio_request_duration_milliseconds', '10'), '2');
    assert.equal(bucket('istio_request_duration_milliseconds', '100'), '2');
    assert.equal(bucket('istio_request_duration_milliseconds', '250'), '3');
    assert.equal(bucket('istio_request_duration_milliseconds', '+Inf'), '3');
    assert.deepEqual(samples(text, 'istio_request_duration_milliseconds_sum'), [`istio_request_duration_milliseconds_sum{${OK_LABELS}} 137.6`]);
    assert.deepEqual(samples(text, 'istio_request_duration_milliseconds_count'), [`istio_request_duration_milliseconds_count{${OK_LABELS}} 3`]);
    assert.equal(bucket('istio_request_bytes', '0.5'), '2');
    assert.equal(bucket('istio_request_bytes', '10'), '3');
    assert.equal(bucket('istio_response_bytes', '250'), '0');
    assert.equal(bucket('istio_response_bytes', '500'), '3');
    assert.equal(samples(text, 'istio_response_bytes_bucket').length, ISTIO_DEFAULT_BUCKETS.length + 1);
    assert.equal(ISTIO_DEFAULT_BUCKETS.at(-1), 3600000);
  });

  it('keeps one series however many paths, request ids, traces and endpoints the requests had', async () => {
    const metrics = createWaypointMetrics();
    for (let i = 0; i < 1000; i++) {
      metrics.observeRequest(
        okRequest({ path: `/reviews/${i}`, requestId: `req-${i}`, traceId: i.toString(16).padStart(32, '0'), upstreamHost: `10.244.2.${i % 250}:9080` }),
      );
    }
    assert.deepEqual(metrics.seriesCount(), { requests: 1, tcp: 0 });
    const text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'istio_requests_total'), [`istio_requests_total{${OK_LABELS}} 1000`]);
    assert.doesNotMatch(text, /\/reviews\/|req-1/);
  });

  it('treats equal labels from distinct objects as one series, and any changed label as another', () => {
    const copy = okRequest({
      sourceWorkload: { ...workloadLabels(productpage) },
      service: { hostname: 'reviews.shop.svc.cluster.local', name: 'reviews', namespace: 'shop' },
    });
    const key = (r: RequestRecord) => requestSeriesKey(r).join('\u0000');
    assert.equal(key(copy), key(okRequest()));
    const variants = [
      okRequest({ status: 503, responseFlags: ['UH'] }),
      okRequest({ status: 503, responseFlags: ['UF', 'URX'] }),
      okRequest({ protocol: 'grpc', grpcStatus: 14 }),
      okRequest({ destinationWorkload: workloadLabels({ ...reviews, workloadName: 'reviews-v3' }) }),
      okRequest({ source: { identity: id('shop', 'other'), namespace: 'shop', ip: '10.244.1.5' } }),
      okRequest({ service: undefined }),
    ];
    const keys = new Set([okRequest(), ...variants].map(key));
    const labelSets = new Set([okRequest(), ...variants].map((r) => JSON.stringify(requestLabels(r))));
    assert.equal(keys.size, variants.length + 1);
    assert.equal(labelSets.size, variants.length + 1);
  });

  it('bounds the values a client can influence: odd statuses and gRPC codes', () => {
    assert.equal(requestLabels(okRequest({ status: 0, responseFlags: ['DC'] })).response_code, '0');
    assert.equal(requestLabels(okRequest({ status: 1234 })).response_code, '0');
    assert.equal(requestLabels(okRequest({ status: 200.5 })).response_code, '0');
    assert.equal(requestLabels(okRequest({ protocol: 'grpc', grpcStatus: 5 })).grpc_response_status, '5');
    assert.equal(requestLabels(okRequest({ protocol: 'grpc', grpcStatus: 99 })).grpc_response_status, '2');
    assert.equal(requestLabels(okRequest({ protocol: 'grpc' })).grpc_response_status, '');
    assert.equal(requestLabels(okRequest({ protocol: 'http', grpcStatus: 5 })).grpc_response_status, '');
  });

  it("falls back as Istio does when a peer is unknown, and never to the client's Host", () => {
    const labels = requestLabels(
      okRequest({
        sourceWorkload: undefined,
        destinationWorkload: undefined,
        service: undefined,
        status: 404,
        responseFlags: ['NR'],
        authority: 'evil.example',
      }),
    );
    assert.equal(labels.source_workload, 'unknown');
    assert.equal(labels.source_canonical_revision, 'latest');
    assert.equal(labels.source_workload_namespace, 'shop'); // from the certificate
    assert.equal(labels.destination_service, 'unknown');
    assert.equal(labels.destination_workload, 'unknown');
    assert.equal(labels.destination_principal, 'unknown');
    assert.equal(labels.response_flags, 'NR');
  });

  it('drops the oldest series past maxSeries and counts it', async () => {
    const metrics = createWaypointMetrics({ maxSeries: 2 });
    metrics.observeRequest(okRequest({ status: 200 }));
    metrics.observeRequest(okRequest({ status: 201 }));
    metrics.observeRequest(okRequest({ status: 202 }));
    assert.deepEqual(metrics.seriesCount(), { requests: 2, tcp: 0 });
    const text = await metrics.registry.metrics();
    assert.deepEqual(
      samples(text, 'istio_requests_total').map((l) => /response_code="(\d+)"/.exec(l)![1]),
      ['201', '202'],
    );
    assert.deepEqual(samples(text, 'waypoint_metric_series_evicted_total'), ['waypoint_metric_series_evicted_total{family="request"} 1']);
    // The dropped tuple starts again from zero; the one it displaces now is the oldest left.
    metrics.observeRequest(okRequest({ status: 200 }));
    metrics.observeRequest(okRequest({ status: 202 }));
    assert.deepEqual(
      samples(await metrics.registry.metrics(), 'istio_requests_total').map((l) => l.replace(/\{.*response_code="(\d+)".*\}/, ' $1')),
      ['istio_requests_total 202 2', 'istio_requests_total 200 1'],
    );
  });

  it('counts denials by policy, retries by outcome', async () => {
    const metrics = createWaypointMetrics();
    metrics.observeRequest(okRequest({ status: 403, denied: { policy: { namespace: 'shop', name: 'deny-delete', rule: 0 } } }));
    metrics.observeRequest(okRequest({ status: 403, denied: { policy: undefined } }));
    metrics.countRetry('reviews.shop.svc.cluster.local', 'retried');
    metrics.countRetry('reviews.shop.svc.cluster.local', 'retried');
    metrics.countRetry('reviews.shop.svc.cluster.local', 'attempts_exhausted');
    const text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'waypoint_requests_denied_total'), [
      'waypoint_requests_denied_total{destination_service="reviews.shop.svc.cluster.local",policy="shop/deny-delete"} 1',
      'waypoint_requests_denied_total{destination_service="reviews.shop.svc.cluster.local",policy="none"} 1',
    ]);
    assert.deepEqual(samples(text, 'waypoint_retries_total'), [
      'waypoint_retries_total{destination_service="reviews.shop.svc.cluster.local",outcome="retried"} 2',
      'waypoint_retries_total{destination_service="reviews.shop.svc.cluster.local",outcome="attempts_exhausted"} 1',
    ]);
    assert.match(samples(text, 'istio_requests_total').join('\n'), /response_code="403",grpc_response_status="",response_flags="-"/);
  });

  it('reports an L4 passthrough connection in the TCP metrics, without HTTP labels', async () => {
    const metrics = createWaypointMetrics();
    const { logger, lines } = memoryLogger();
    const conn = tcpConnection();
    reportTcpOpened(conn, metrics);
    reportTcpConnection(conn, metrics, logger, true);
    reportTcpConnection(tcpConnection({ bytesReceived: 1, bytesSent: 2 }), metrics, logger);
    const text = await metrics.registry.metrics();
    const opened = samples(text, 'istio_tcp_connections_opened_total');
    assert.equal(opened.length, 1);
    assert.match(
      opened[0]!,
      /^istio_tcp_connections_opened_total\{reporter="waypoint",.*request_protocol="tcp",response_flags="-",connection_security_policy="mutual_tls"\} 2$/,
    );
    assert.doesNotMatch(opened[0]!, /response_code|grpc_response_status/);
    assert.match(opened[0]!, /destination_workload="unknown"/);
    assert.match(opened[0]!, /destination_service="db.shop.svc.cluster.local"/);
    assert.match(samples(text, 'istio_tcp_connections_closed_total')[0]!, / 2$/);
    assert.match(samples(text, 'istio_tcp_received_bytes_total')[0]!, / 101$/);
    assert.match(samples(text, 'istio_tcp_sent_bytes_total')[0]!, / 2002$/);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.msg, 'connection complete');
    assert.equal(lines[0]!.request_protocol, 'tcp');
    assert.equal(lines[0]!.bytes_sent, 2000);
  });

  it('gives the JSON form full labels on every histogram value, and resets with the registry', async () => {
    const metrics = createWaypointMetrics();
    metrics.observeRequest(okRequest());
    const json = await metrics.registry.getMetricsAsJSON();
    const duration = json.find((m) => m.name === 'istio_request_duration_milliseconds')!;
    const inf = duration.values.find((v) => (v.labels as Record<string, unknown>).le === '+Inf')!;
    assert.equal(inf.value, 1);
    assert.equal((inf.labels as Record<string, unknown>).destination_service, 'reviews.shop.svc.cluster.local');
    metrics.registry.resetMetrics();
    assert.deepEqual(metrics.seriesCount(), { requests: 0, tcp: 0 });
    assert.deepEqual(samples(await metrics.registry.metrics(), 'istio_requests_total'), []);
  });
});
