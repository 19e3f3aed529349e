import assert from 'node:assert/strict';
import type { Extension } from '@ambient/api';
import { FakeClock } from '@ambient/api/testing';
import { rateLimitPolicies } from '../../src/policy/rate-limit-policies.ts';
import { type RateLimitOutcome, RateLimiter, type RateLimitRequest, type RateLimitScope } from '../../src/policy/rate-limiter.ts';
import { policy, recordingEvents, req } from './rate-limit-fixtures.ts';

const T0 = 1_700_000_000_000;

const gatewayRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' };
const reviewsRef = { group: '', kind: 'Service', name: 'reviews' };
const routeRef = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'reviews' };

const toReviews: RateLimitScope = {
  gateway: { namespace: 'shop', name: 'waypoint' },
  service: { namespace: 'shop', name: 'reviews' },
  route: { namespace: 'shop', name: 'reviews', kind: 'HTTPRoute' },
};

function limitOf(n: number, window = '1m', extra: object = {}): object {
  return { rates: [{ limit: n, window }], ...extra };
}

/** The synchronous answers to `n` checks (a promise here would be a bug: only local limits). */
function checks(limiter: RateLimiter, scope: RateLimitScope, n: number, r: RateLimitRequest = req): RateLimitOutcome[] {
  const out: RateLimitOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const o = limiter.check(scope, r);
    assert.ok(!(o instanceof Promise), 'local limits answer synchronously');
    out.push(o);
  }
  return out;
}

function allowedCount(outcomes: RateLimitOutcome[]): number {
  return outcomes.filter((o) => o.kind === 'allowed').length;
}

describe('RateLimiter (local limits)', () => {
  it('answers allowed synchronously when no policy applies', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    assert.deepEqual(checks(limiter, toReviews, 3), [{ kind: 'allowed' }, { kind: 'allowed' }, { kind: 'allowed' }]);
    limiter.update([policy('p', { targetRefs: [reviewsRef], limits: { api: limitOf(1) } })]);
    assert.equal(allowedCount(checks(limiter, { gateway: toReviews.gateway, service: { namespace: 'shop', name: 'ratings' } }, 5)), 5);
  });

  it('refuses past the limit with 429 headers naming the policy and limit', () => {
    const events = recordingEvents();
    const limiter = new RateLimiter({ clock: new FakeClock(T0), events });
    limiter.update([policy('per-minute', { targetRefs: [reviewsRef], limits: { api: limitOf(2, '1m') } })]);
    const [a, b, c] = checks(limiter, toReviews, 3);
    assert.deepEqual([a, b], [{ kind: 'allowed' }, { kind: 'allowed' }]);
    assert.deepEqual(c, {
      kind: 'limited',
      policy: 'shop/per-minute',
      limit: 'api',
      headers: { 'x-ratelimit-limit': '2, 2;w=60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '30', 'retry-after': '30' },
    });
    assert.deepEqual(events.log, ['limited shop/per-minute api']);
  });

  it('states a sub-second window without w=, and rounds the reset up to a whole second', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    limiter.update([policy('p', { targetRefs: [reviewsRef], limits: { api: limitOf(5, '500ms') } })]);
    const last = checks(limiter, toReviews, 6)[5]!;
    assert.equal(last.kind, 'limited');
    assert.deepEqual(last.kind === 'limited' && last.headers, {
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '1',
      'retry-after': '1',
    });
  });

  describe('scope: the target is in the policy’s own namespace', () => {
    const scopes: [string, unknown, RateLimitScope, boolean][] = [
      ['a Gateway policy, any request of the waypoint', gatewayRef, { gateway: { namespace: 'shop', name: 'waypoint' } }, true],
      ['a Gateway policy, another waypoint', gatewayRef, { gateway: { namespace: 'shop', name: 'other' } }, false],
      ['a Gateway policy, a waypoint of another namespace', gatewayRef, { gateway: { namespace: 'prod', name: 'waypoint' } }, false],
      ['a Service policy, its service', reviewsRef, toReviews, true],
      ['a Service policy, a same-named service elsewhere', reviewsRef, { gateway: toReviews.gateway, service: { namespace: 'prod', name: 'reviews' } }, false],
      ['a Service policy, no service', reviewsRef, { gateway: toReviews.gateway }, false],
      ['an HTTPRoute policy, its route', routeRef, toReviews, true],
      [
        'an HTTPRoute policy, a GRPCRoute of the same name',
        routeRef,
        { gateway: toReviews.gateway, route: { namespace: 'shop', name: 'reviews', kind: 'GRPCRoute' } },
        false,
      ],
      [
        'a GRPCRoute policy, its route',
        { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'reviews' },
        { gateway: toReviews.gateway, route: { namespace: 'shop', name: 'reviews', kind: 'GRPCRoute' } },
        true,
      ],
    ];
    for (const [name, target, scope, applies] of scopes) {
      it(`${name}: ${applies ? 'limits' : 'does not apply'}`, () => {
        const limiter = new RateLimiter({ clock: new FakeClock(T0) });
        limiter.update([policy('p', { targetRefs: [target], limits: { api: limitOf(1) } })]);
        assert.equal(allowedCount(checks(limiter, scope, 3)), applies ? 1 : 3);
      });
    }
  });

  it('counts a limit once when the request reaches it through two targets, and shares it across targets', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    limiter.update([policy('p', { targetRefs: [gatewayRef, reviewsRef, routeRef], limits: { api: limitOf(4) } })]);
    assert.equal(allowedCount(checks(limiter, toReviews, 2)), 2);
    assert.equal(allowedCount(checks(limiter, { gateway: toReviews.gateway }, 5)), 2, 'the same counter through the Gateway alone');
  });

  it('applies every policy and limit: the strictest refuses', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    limiter.update([
      policy('gateway-wide', { targetRefs: [gatewayRef], limits: { all: limitOf(10) } }),
      policy('reviews', { targetRefs: [reviewsRef], limits: { loose: limitOf(5), tight: limitOf(3) } }),
    ]);
    const out = checks(limiter, toReviews, 4);
    assert.equal(allowedCount(out), 3);
    assert.deepEqual(out[3]?.kind === 'limited' && [out[3].policy, out[3].limit], ['shop/reviews', 'tight']);
    // The refused request spent no token of the other limits: 7 more fit under gateway-wide.
    assert.equal(allowedCount(checks(limiter, { gateway: toReviews.gateway }, 20)), 7);
  });

  it('counts only requests its `when` predicates all match', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    limiter.update([
      policy('writes', {
        targetRefs: [reviewsRef],
        limits: { posts: limitOf(1, '1m', { when: [{ predicate: "request.method == 'POST'" }, { predicate: "request.path.startsWith('/reviews')" }] }) },
      }),
    ]);
    assert.equal(allowedCount(checks(limiter, toReviews, 5, req)), 5, 'GETs are not counted');
    assert.equal(allowedCount(checks(limiter, toReviews, 5, { ...req, method: 'POST', path: '/other' })), 5);
    assert.equal(allowedCount(checks(limiter, toReviews, 5, { ...req, method: 'POST' })), 1);
  });

  it('keeps a counter per distinct counter value', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    limiter.update([policy('per-caller', { targetRefs: [reviewsRef], limits: { api: limitOf(2, '1m', { counters: [{ expression: 'source.principal' }] }) } })]);
    const alice = { ...req, sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/alice' };
    const bob = { ...req, sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/bob' };
    assert.equal(allowedCount(checks(limiter, toReviews, 5, alice)), 2);
    assert.equal(allowedCount(checks(limiter, toReviews, 5, bob)), 2);
    assert.deepEqual(limiter.localCounters(), [{ policy: 'shop/per-caller', limit: 'api', keys: 2, evicted: 0 }]);
  });

  it('refills with the injected clock', () => {
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({ clock });
    limiter.update([policy('p', { targetRefs: [reviewsRef], limits: { api: limitOf(6, '1m') } })]);
    assert.equal(allowedCount(checks(limiter, toReviews, 10)), 6);
    clock.advance(20_000);
    assert.equal(allowedCount(checks(limiter, toReviews, 10)), 2);
  });

  it('keeps the counters of limits an update leaves unchanged and resets changed ones', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0) });
    const spec = (a: number, b: number) => ({ targetRefs: [reviewsRef], limits: { a: limitOf(a), b: limitOf(b, '1h') } });
    limiter.update([policy('p', spec(2, 100))]);
    checks(limiter, toReviews, 2);
    // Only `b` changes (and an unrelated policy comes and goes): `a` is still spent.
    limiter.update([policy('p', spec(2, 50)), policy('q', { targetRefs: [gatewayRef], limits: { x: limitOf(1000) } })]);
    assert.equal(allowedCount(checks(limiter, toReviews, 3)), 0);
    limiter.update([policy('p', spec(3, 50))]);
    assert.equal(allowedCount(checks(limiter, toReviews, 5)), 3, 'a new rate is a new counter');
    limiter.update([]);
    assert.equal(allowedCount(checks(limiter, toReviews, 5)), 5);
  });

  it('caps the keys of a limit, dropping the coldest', () => {
    const limiter = new RateLimiter({ clock: new FakeClock(T0), maxLocalKeys: 3 });
    limiter.update([policy('p', { targetRefs: [reviewsRef], limits: { api: limitOf(1, '1m', { counters: [{ expression: "request.headers['x-user']" }] }) } })]);
    for (let i = 0; i < 10; i++) checks(limiter, toReviews, 1, { ...req, headers: { 'x-user': `u${i}` } });
    assert.deepEqual(limiter.localCounters(), [{ policy: 'shop/p', limit: 'api', keys: 3, evicted: 7 }]);
  });
});

describe('rateLimitPolicies', () => {
  function ext(name: string, spec: unknown, kind = 'RateLimitPolicy'): Extension {
    return { apiVersion: 'mesh.ambient.dev/v1alpha1', kind, namespace: 'shop', name, specJson: typeof spec === 'string' ? spec : JSON.stringify(spec) };
  }

  it('parses the RateLimitPolicies among the extensions and names each bad one with its field', () => {
    const good = { targetRefs: [reviewsRef], limits: { api: limitOf(1) } };
    const { policies, problems } = rateLimitPolicies([
      ext('good', good),
      ext('budget', { targetRefs: [reviewsRef] }, 'BackendTrafficPolicy'),
      ext('typo', { targetRefs: [reviewsRef], limits: { api: limitOf(1, '1m', { when: [{ predicate: "request.method = 'GET'" }] }) } }),
      ext('garbage', '{'),
    ]);
    assert.deepEqual(policies, [policy('good', good)]);
    assert.deepEqual(
      problems.map((p) => p.name),
      ['shop/typo', 'shop/garbage'],
    );
    assert.match(problems[0]!.message, /^spec\.limits\.api\.when\[0\]\.predicate "request\.method = 'GET'": unexpected "=" at column 16; policy ignored/);
    assert.match(problems[1]!.message, /^spec "\{": not JSON/);
  });
});
