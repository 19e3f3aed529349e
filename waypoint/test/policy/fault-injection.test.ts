import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { Extension } from '@ambient/api';
import { parseFaultInjectionPolicy } from '@ambient/api/mesh-policy';
import { seededRandom } from '@ambient/api/testing';
import { faultFor, FaultInjector, faultInjectionPolicies, type FaultPolicy, type FaultScope } from '../../src/policy/fault-injection.ts';

const gatewayRef = { kind: 'Gateway', name: 'waypoint' };
const serviceRef = { group: '', kind: 'Service', name: 'reviews' };
const routeRef = { kind: 'HTTPRoute', name: 'reviews-route' };

function policy(name: string, spec: Record<string, unknown>, namespace = 'shop'): FaultPolicy {
  return { namespace, name, spec: parseFaultInjectionPolicy(spec) };
}

const abortAll = (status: number, targetRefs: unknown[], more: Record<string, unknown> = {}) => ({
  targetRefs,
  fault: { abort: { httpStatus: status } },
  ...more,
});

const scope: FaultScope = {
  gateway: { namespace: 'shop', name: 'waypoint' },
  service: { namespace: 'shop', name: 'reviews' },
  route: { namespace: 'shop', name: 'reviews-route', kind: 'HTTPRoute' },
};

/** A random source that always hits (0 is under every percentage but 0). */
const always = () => 0;

describe('faultFor', () => {
  it('picks the most specific applicable policy: route, then Service, then Gateway, then by namespace/name', () => {
    const onGateway = policy('on-gateway', abortAll(501, [gatewayRef]));
    const onService = policy('on-service', abortAll(502, [serviceRef]));
    const onRoute = policy('on-route', abortAll(503, [routeRef]));
    const aOnService = policy('a-on-service', abortAll(504, [serviceRef]));
    const cases: [string, FaultPolicy[], FaultScope, string | undefined][] = [
      ['all three: the route', [onGateway, onService, onRoute], scope, 'shop/on-route'],
      ['no route policy: the Service', [onGateway, onService], scope, 'shop/on-service'],
      ['only the Gateway', [onGateway], scope, 'shop/on-gateway'],
      ['a request without a matched route', [onGateway, onService, onRoute], { gateway: scope.gateway, service: scope.service! }, 'shop/on-service'],
      ['a workload-addressed request (no Service)', [onService, onGateway], { gateway: scope.gateway }, 'shop/on-gateway'],
      ['two on the Service: the first by name', [onService, aOnService], scope, 'shop/a-on-service'],
      [
        'a GRPCRoute target does not match an HTTPRoute of that name',
        [policy('grpc', abortAll(503, [{ kind: 'GRPCRoute', name: 'reviews-route' }]))],
        scope,
        undefined,
      ],
      ['a route of that name in another namespace', [policy('elsewhere', abortAll(503, [routeRef]), 'other')], scope, undefined],
      ['a Service of another name', [policy('ratings', abortAll(503, [{ kind: 'Service', name: 'ratings' }]))], scope, undefined],
      ['another waypoint', [policy('gw2', abortAll(503, [{ kind: 'Gateway', name: 'other-waypoint' }]))], scope, undefined],
      ['no policies', [], scope, undefined],
    ];
    for (const [what, policies, s, want] of cases) assert.equal(faultFor(policies, s, {}, always)?.policy, want, what);
  });

  it('skips a policy whose headers do not match, leaving the request to a less specific one', () => {
    const chaosOnRoute = policy('chaos', abortAll(503, [routeRef], { match: { headers: [{ name: 'x-chaos', value: 'on' }] } }));
    const onGateway = policy('everyone', abortAll(500, [gatewayRef]));
    const policies = [chaosOnRoute, onGateway];
    assert.equal(faultFor(policies, scope, { 'x-chaos': 'on' }, always)?.policy, 'shop/chaos');
    assert.equal(faultFor(policies, scope, { 'x-chaos': 'off' }, always)?.policy, 'shop/everyone');
    assert.equal(faultFor(policies, scope, {}, always)?.policy, 'shop/everyone');
  });

  it('matches headers: all of them, exact or whole-value regex, repeated values joined by commas', () => {
    const p = policy(
      'p',
      abortAll(503, [serviceRef], {
        match: {
          headers: [
            { name: 'X-Tenant', type: 'Exact', value: 'blue' },
            { name: 'user-agent', type: 'RegularExpression', value: 'curl/[0-9.]+' },
          ],
        },
      }),
    );
    const cases: [IncomingHttpHeaders, boolean][] = [
      [{ 'x-tenant': 'blue', 'user-agent': 'curl/8.5.0' }, true],
      [{ 'x-tenant': 'blue', 'user-agent': 'Mozilla curl/8.5.0' }, false],
      [{ 'x-tenant': 'blue', 'user-agent': 'curl/8.5.0 extra' }, false],
      [{ 'x-tenant': 'Blue', 'user-agent': 'curl/8.5.0' }, false],
      [{ 'x-tenant': 'blue' }, false],
      [{ 'user-agent': 'curl/8.5.0' }, false],
      [{ 'x-tenant': ['blue', 'green'], 'user-agent': 'curl/8' }, false],
    ];
    for (const [headers, hit] of cases) assert.equal(faultFor([p], scope, headers, always) !== undefined, hit, JSON.stringify(headers));
    const joined = policy('joined', abortAll(503, [serviceRef], { match: { headers: [{ name: 'x-tenant', value: 'blue,green' }] } }));
    assert.ok(faultFor([joined], scope, { 'x-tenant': ['blue', 'green'] }, always));
  });

  it('applies a sectionName target only when the scope names that section, above a whole-object one', () => {
    const port = policy('port-http', abortAll(503, [{ ...serviceRef, sectionName: 'http' }]));
    const whole = policy('a-whole', abortAll(500, [serviceRef]));
    const onHttp: FaultScope = { gateway: scope.gateway, service: { namespace: 'shop', name: 'reviews', sectionName: 'http' } };
    const onGrpc: FaultScope = { gateway: scope.gateway, service: { namespace: 'shop', name: 'reviews', sectionName: 'grpc' } };
    const unnamed: FaultScope = { gateway: scope.gateway, service: { namespace: 'shop', name: 'reviews' } };
    assert.equal(faultFor([port, whole], onHttp, {}, always)?.policy, 'shop/port-http');
    assert.equal(faultFor([port, whole], onGrpc, {}, always)?.policy, 'shop/a-whole');
    assert.equal(faultFor([port, whole], unnamed, {}, always)?.policy, 'shop/a-whole');
    assert.equal(faultFor([port], unnamed, {}, always), undefined);
  });

  it('answers the configured delay and abort, HTTP or gRPC', () => {
    const cases: [string, Record<string, unknown>, unknown][] = [
      ['abort 503', { abort: { httpStatus: 503 } }, { policy: 'shop/p', abort: { httpStatus: 503 } }],
      ['gRPC UNAVAILABLE', { abort: { grpcStatus: 'UNAVAILABLE' } }, { policy: 'shop/p', abort: { grpcStatus: 14 } }],
      ['delay 2s', { delay: { fixedDelay: '2s' } }, { policy: 'shop/p', delayMs: 2000 }],
      ['both', { delay: { fixedDelay: '100ms' }, abort: { httpStatus: 429 } }, { policy: 'shop/p', delayMs: 100, abort: { httpStatus: 429 } }],
    ];
    for (const [what, fault, want] of cases) {
      assert.deepEqual(faultFor([policy('p', { targetRefs: [serviceRef], fault })], scope, {}, always), want, what);
    }
  });

  it('draws the delay and then the abort, each against its own percentage', () => {
    const p = policy('p', {
      targetRefs: [serviceRef],
      fault: { delay: { fixedDelay: '1s', percentage: { value: 50 } }, abort: { httpStatus: 503, percentage: { value: 30 } } },
    });
    const draws = (...values: number[]) => {
      const queue = [...values];
      return () => {
        const v = queue.shift();
        assert.ok(v !== undefined, 'drew more than once per fault');
        return v;
      };
    };
    const cases: [number, number, unknown][] = [
      [0.1, 0.1, { policy: 'shop/p', delayMs: 1000, abort: { httpStatus: 503 } }],
      [0.1, 0.3, { policy: 'shop/p', delayMs: 1000 }], // 30 is not under 30
      [0.5, 0.2999, { policy: 'shop/p', abort: { httpStatus: 503 } }], // 50 is not under 50
      [0.9, 0.9, undefined],
    ];
    for (const [d, a, want] of cases) assert.deepEqual(faultFor([p], scope, {}, draws(d, a)), want, `${d} ${a}`);
  });

  it('never fires at 0%, always at 100%', () => {
    const never = policy('never', { targetRefs: [serviceRef], fault: { abort: { httpStatus: 503, percentage: { value: 0 } } } });
    const alwaysOn = policy('always', { targetRefs: [serviceRef], fault: { abort: { httpStatus: 503, percentage: { value: 100 } } } });
    for (const r of [0, 0.5, 0.999999]) {
      assert.equal(
        faultFor([never], scope, {}, () => r),
        undefined,
        String(r),
      );
      assert.ok(
        faultFor([alwaysOn], scope, {}, () => r),
        String(r),
      );
    }
  });

  it('aborts 30% of 10 000 requests, within four standard deviations, and draws delay and abort independently', () => {
    const injector = new FaultInjector([
      policy('abort-30', { targetRefs: [routeRef], fault: { abort: { httpStatus: 503, percentage: { value: 30 } } } }),
      policy('both', {
        targetRefs: [serviceRef],
        fault: { delay: { fixedDelay: '1s', percentage: { value: 50 } }, abort: { httpStatus: 503, percentage: { value: 30 } } },
      }),
    ]);
    const n = 10_000;
    const random = seededRandom(42);
    let aborted = 0;
    for (let i = 0; i < n; i++) if (injector.faultFor(scope, {}, random)?.abort !== undefined) aborted++;
    // σ = √(n·p·(1−p)) ≈ 46: 3000 ± 183.
    assert.ok(Math.abs(aborted - 3000) < 4 * Math.sqrt(n * 0.3 * 0.7), `${aborted} aborted of ${n}`);
    const serviceOnly: FaultScope = { gateway: scope.gateway, service: scope.service! };
    const counts = { both: 0, delayOnly: 0, abortOnly: 0, none: 0 };
    for (let i = 0; i < n; i++) {
      const d = injector.faultFor(serviceOnly, {}, random);
      if (d === undefined) counts.none++;
      else if (d.delayMs !== undefined && d.abort !== undefined) counts.both++;
      else if (d.delayMs !== undefined) counts.delayOnly++;
      else counts.abortOnly++;
    }
    const expected = { both: 0.15, delayOnly: 0.35, abortOnly: 0.15, none: 0.35 };
    for (const [k, p] of Object.entries(expected)) {
      const got = counts[k as keyof typeof counts];
      assert.ok(Math.abs(got - n * p) < 4 * Math.sqrt(n * p * (1 - p)), `${k}: ${got} of ${n}, expected about ${n * p}`);
    }
  });
});

describe('FaultInjector', () => {
  it('hands out the same frozen decision each time (no allocation per request)', () => {
    const injector = new FaultInjector([policy('p', { targetRefs: [serviceRef], fault: { abort: { httpStatus: 503 } } })]);
    const a = injector.faultFor(scope, {}, always);
    assert.ok(a !== undefined);
    assert.equal(injector.faultFor(scope, {}, always), a);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.abort));
  });

  it('applies an update to the next request, and forgets removed policies', () => {
    const injector = new FaultInjector([policy('old', abortAll(500, [serviceRef]))]);
    assert.equal(injector.faultFor(scope, {}, always)?.policy, 'shop/old');
    injector.update([policy('new', abortAll(503, [gatewayRef]))]);
    assert.equal(injector.size, 1);
    assert.equal(injector.faultFor(scope, {}, always)?.policy, 'shop/new');
    injector.update([]);
    assert.equal(injector.faultFor(scope, {}, always), undefined);
    assert.equal(injector.size, 0);
  });

  it('indexes a policy under each of its targets', () => {
    const injector = new FaultInjector([policy('multi', abortAll(503, [{ kind: 'Service', name: 'ratings' }, serviceRef]))]);
    assert.equal(injector.faultFor(scope, {}, always)?.policy, 'shop/multi');
    assert.equal(injector.faultFor({ gateway: scope.gateway, service: { namespace: 'shop', name: 'ratings' } }, {}, always)?.policy, 'shop/multi');
  });
});

describe('faultInjectionPolicies', () => {
  const ext = (name: string, spec: unknown, kind = 'FaultInjectionPolicy'): Extension => ({
    apiVersion: 'mesh.ambient.dev/v1alpha1',
    kind,
    namespace: 'shop',
    name,
    specJson: typeof spec === 'string' ? spec : JSON.stringify(spec),
  });

  it('parses the FaultInjectionPolicies, reports the bad ones with field and value, and leaves other kinds alone', () => {
    const { policies, problems } = faultInjectionPolicies([
      ext('good', abortAll(503, [serviceRef])),
      ext('bad-status', abortAll(99, [serviceRef])),
      ext('not-json', '{fault'),
      ext('budget', 'not json either', 'BackendTrafficPolicy'),
      { ...ext('other-group', 'x'), apiVersion: 'networking.istio.io/v1' },
    ]);
    assert.deepEqual(
      policies.map((p) => `${p.namespace}/${p.name}`),
      ['shop/good'],
    );
    assert.deepEqual(policies[0]!.spec.abort, { percent: 100, httpStatus: 503 });
    assert.deepEqual(problems, [
      { name: 'shop/bad-status', message: 'spec.fault.abort.httpStatus 99: expected an integer from 200 to 599; policy ignored, no fault injected for it' },
      { name: 'shop/not-json', message: 'spec "{fault": not JSON; policy ignored, no fault injected for it' },
    ]);
  });
});
