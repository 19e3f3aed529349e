// The request stack's own replies, through the real inbound server (HBONE on 127.0.0.1 port 0)
// and the real state, for what the end-to-end tests do not reach: the order of the layers (a
// limited request never reaches the balancer), the rate limit headers, and gRPC's trailers-only
// local replies. The service has no endpoints: whatever passes every layer answers 503 UH.
import assert from 'node:assert/strict';
import type { Clock, Extension, WaypointConfig } from '@ambient/api';
import { typeUrls } from '@ambient/api';
import { packAny, unpackAny } from '@ambient/api/grpc';
import { FakeClock, hostname, id, serviceKey, wireService } from '@ambient/api/testing';
import { HbonePool } from '@ambient/hbone';
import pino from 'pino';
import { EndpointPicker } from '../../src/balance/endpoint-picker.ts';
import { WaypointState } from '../../src/config/waypoint-state.ts';
import { EndpointClient } from '../../src/endpoint/index.ts';
import { CircuitBreakers } from '../../src/policy/circuit-breaker.ts';
import { FaultInjector, faultInjectionPolicies } from '../../src/policy/fault-injection.ts';
import { rateLimitPolicies } from '../../src/policy/rate-limit-policies.ts';
import { RateLimiter } from '../../src/policy/rate-limiter.ts';
import { RetryBudgets } from '../../src/policy/retry-budget.ts';
import { RequestStack } from '../../src/stack/request-stack.ts';
import { createWaypointMetrics } from '../../src/telemetry/waypoint-metrics.ts';
import { clientSource, h2cSession, h2Request, Http1Reader, type Harness, startHarness, svc } from '../server/server-fixtures.ts';

const ext = (kind: string, name: string, spec: object): Extension => ({
  apiVersion: 'mesh.ambient.dev/v1alpha1',
  kind,
  namespace: 'shop',
  name,
  specJson: JSON.stringify(spec),
});
const reviewsRef = [{ group: '', kind: 'Service', name: 'reviews' }];
/** One request per minute per x-user, and aborts for x-fault: abort. */
const extensions = [
  ext('RateLimitPolicy', 'per-user', {
    targetRefs: reviewsRef,
    limits: { 'per-user': { rates: [{ limit: 1, window: '1m' }], counters: [{ expression: "request.headers['x-user']" }] } },
  }),
  ext('FaultInjectionPolicy', 'abort', {
    targetRefs: reviewsRef,
    match: { headers: [{ name: 'x-fault', value: 'abort' }] },
    fault: { abort: { grpcStatus: 'RESOURCE_EXHAUSTED' } },
  }),
];
const config: WaypointConfig = {
  namespace: 'shop',
  name: 'waypoint',
  identity: id('shop', 'waypoint'),
  waypointFor: 'service',
  services: [
    {
      name: 'reviews',
      namespace: 'shop',
      hostname: hostname('reviews'),
      addresses: [svc.http.ip],
      ports: [
        { servicePort: svc.http.port, targetPort: 8080, name: 'http', appProtocol: '' },
        { servicePort: svc.grpc.port, targetPort: 9090, name: 'grpc', appProtocol: 'grpc' },
      ],
      routes: [],
    },
  ],
  authorizations: [],
  extensions,
};

describe('RequestStack: the local replies of the resilience layers', () => {
  let harness: Harness;
  let metrics: ReturnType<typeof createWaypointMetrics>;
  let endpoints: EndpointClient;
  let rateLimiter: RateLimiter;

  before(async () => {
    const fake = new FakeClock();
    const clock: Clock = { now: fake.now, ...fake.timers };
    const state = new WaypointState();
    const address = wireService({
      name: 'reviews',
      vip: svc.http.ip,
      ports: [
        [svc.http.port, 8080],
        [svc.grpc.port, 9090],
      ],
    });
    state.apply(typeUrls.address, { upserts: new Map([[serviceKey('reviews'), unpackAny(packAny(typeUrls.address, address))]]), removals: [] });
    state.apply(typeUrls.waypointConfig, { upserts: new Map([['shop/waypoint', unpackAny(packAny(typeUrls.waypointConfig, config))]]), removals: [] });
    metrics = createWaypointMetrics();
    rateLimiter = new RateLimiter({ clock });
    rateLimiter.update(rateLimitPolicies(extensions).policies);
    const faults = new FaultInjector();
    faults.update(faultInjectionPolicies(extensions).policies);
    endpoints = new EndpointClient({ pool: new HbonePool(), source: () => clientSource });
    const stack = new RequestStack({
      state,
      endpoints,
      picker: new EndpointPicker({ clock }),
      budgets: new RetryBudgets(clock),
      breakers: new CircuitBreakers(),
      rateLimiter,
      faults,
      metrics,
      logger: pino({ level: 'silent' }),
      clock,
    });
    harness = await startHarness({
      onRequest: (req, res, conn) => {
        const served = state.served(conn.target.ip, conn.target.port);
        assert.ok(served, `${conn.target.ip}:${conn.target.port} is served`);
        return stack.handle(req, res, { ...conn, served: { ...served, protocol: conn.served.protocol } });
      },
    });
  });

  after(async () => {
    await harness?.close();
    await endpoints?.close();
    await rateLimiter?.close();
  });

  it('limits before it balances: the first request reaches the balancer (503 UH, no endpoint), the second is answered 429 with the limit headers', async () => {
    const stream = await harness.connect(svc.http);
    const reader = new Http1Reader(stream);
    const get = 'GET /reviews/1 HTTP/1.1\r\nhost: reviews\r\nx-user: ann\r\n\r\n';
    stream.write(get);
    const first = await reader.response();
    assert.equal(first.status, 503);
    assert.match(first.body, /no healthy upstream/);
    stream.write(get);
    const second = await reader.response();
    assert.equal(second.status, 429);
    assert.equal(second.headers['x-ratelimit-limit'], '1, 1;w=60');
    assert.equal(second.headers['x-ratelimit-remaining'], '0');
    assert.ok(Number(second.headers['retry-after']) > 0, JSON.stringify(second.headers));
    assert.ok(second.headers['x-request-id']);
    stream.end();
    const text = await metrics.registry.metrics();
    assert.match(text, /istio_requests_total\{[^}]*response_code="429"[^}]*response_flags="RL"[^}]*\} 1/);
    assert.match(text, /istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="UH"[^}]*\} 1/);
  });

  it('answers a limited gRPC call trailers-only: HTTP 200, grpc-status 14 (UNAVAILABLE, Envoy’s mapping of 429), the limit headers', async () => {
    const session = h2cSession(await harness.connect(svc.grpc));
    const call = () =>
      h2Request(
        session,
        { ':method': 'POST', ':path': '/shop.Reviews/Get', 'content-type': 'application/grpc', 'x-user': 'bob', te: 'trailers' },
        Buffer.alloc(5),
      );
    const first = await call();
    assert.equal(first.headers['grpc-status'], '14', 'no endpoint: 503 UH mapped to UNAVAILABLE too');
    const second = await call();
    assert.equal(second.status, 200);
    assert.equal(second.headers['content-type'], 'application/grpc');
    assert.equal(second.headers['grpc-status'], '14');
    assert.equal(second.headers['x-ratelimit-limit'], '1, 1;w=60');
    assert.equal(second.body.length, 0);
    session.close();
  });

  it('aborts with the policy’s gRPC status, flagged FI, before the rate limit’s counter would matter', async () => {
    const session = h2cSession(await harness.connect(svc.grpc));
    const r = await h2Request(
      session,
      { ':method': 'POST', ':path': '/shop.Reviews/Get', 'content-type': 'application/grpc', 'x-user': 'cy', 'x-fault': 'abort', te: 'trailers' },
      Buffer.alloc(5),
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['grpc-status'], '8', 'RESOURCE_EXHAUSTED');
    assert.equal(r.headers['grpc-message'], 'fault%20filter%20abort');
    session.close();
    const text = await metrics.registry.metrics();
    assert.match(text, /istio_requests_total\{[^}]*grpc_response_status="8"[^}]*response_flags="FI"[^}]*\} 1/);
    assert.match(text, /waypoint_faults_injected_total\{destination_service="reviews\.shop\.svc\.cluster\.local",kind="abort"\} 1/);
  });
});
