import assert from 'node:assert/strict';
import { accessLogFields, reportRequest } from '../../src/telemetry/report-request.ts';
import { createWaypointMetrics } from '../../src/telemetry/waypoint-metrics.ts';
import { memoryLogger, okRequest, samples } from './fixtures.ts';

describe('request report (the access-log line)', () => {
  it("writes Istio's access-log fields for a proxied request", () => {
    assert.deepEqual(accessLogFields(okRequest()), {
      start_time: '2026-12-02T10:00:00.000Z',
      method: 'GET',
      path: '/reviews/1?x=1',
      protocol: 'HTTP/1.1',
      request_protocol: 'http',
      authority: 'reviews:9080',
      response_code: 200,
      response_flags: '-',
      response_code_details: 'via_upstream',
      bytes_received: 0,
      bytes_sent: 345,
      duration: 8,
      source_address: '10.244.1.5',
      source_principal: 'spiffe://cluster.local/ns/shop/sa/productpage',
      source_workload: 'productpage-v1',
      source_namespace: 'shop',
      destination_service: 'reviews.shop.svc.cluster.local',
      destination_workload: 'reviews-v2',
      destination_namespace: 'shop',
      destination_principal: 'spiffe://cluster.local/ns/shop/sa/reviews',
      route_name: 'shop/reviews',
      attempts: 1,
      upstream_host: '10.244.2.7:9080',
      request_id: '5f0c8f3e-6a4e-4b9a-9d5c-0d3c1b2a4e5f',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      user_agent: 'curl/8.5.0',
    });
  });

  it('writes exactly one info line per request, with the path that the metrics leave out', async () => {
    const metrics = createWaypointMetrics();
    const { logger, lines } = memoryLogger();
    reportRequest(okRequest(), metrics, logger);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.msg, 'request complete');
    assert.equal(lines[0]!.level, 30);
    assert.equal(lines[0]!.path, '/reviews/1?x=1');
    assert.doesNotMatch(await metrics.registry.metrics(), /\/reviews\/1/);
  });

  it("flags an L7 authorization denial as Istio's waypoint does: 403, no flag, rbac details", () => {
    const fields = accessLogFields(
      okRequest({
        status: 403,
        responseCodeDetails: undefined,
        denied: { policy: { namespace: 'shop', name: 'deny-delete', rule: 1 } },
        attempts: 0,
        destinationWorkload: undefined,
        upstreamHost: undefined,
        bytesSent: 19,
      }),
    );
    assert.equal(fields.response_code, 403);
    assert.equal(fields.response_flags, '-');
    assert.equal(fields.response_code_details, 'rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[1]]');
    assert.equal(fields.attempts, 0);
    assert.equal('upstream_host' in fields, false);
    assert.equal('destination_workload' in fields, false);
  });

  it('writes retried failures with all their flags and the attempts made', () => {
    const fields = accessLogFields(
      okRequest({ status: 503, responseFlags: ['URX', 'UF'], attempts: 3, responseCodeDetails: 'upstream_reset_before_response_started' }),
    );
    assert.equal(fields.response_flags, 'UF,URX');
    assert.equal(fields.attempts, 3);
  });

  it('adds the gRPC status for a gRPC request only', () => {
    assert.equal(accessLogFields(okRequest({ protocol: 'grpc', httpVersion: 'HTTP/2', grpcStatus: 14 })).grpc_status, 14);
    assert.equal('grpc_status' in accessLogFields(okRequest({ grpcStatus: 14 })), false);
  });

  it('still counts the request when info lines are off, without building the line', async () => {
    const metrics = createWaypointMetrics();
    const { logger, lines } = memoryLogger('warn');
    reportRequest(okRequest(), metrics, logger);
    assert.equal(lines.length, 0);
    assert.match(samples(await metrics.registry.metrics(), 'istio_requests_total')[0]!, / 1$/);
  });
});
