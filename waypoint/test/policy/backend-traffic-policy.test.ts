import assert from 'node:assert/strict';
import type { Extension } from '@ambient/api';
import { parseGatewayDurationMs } from '@ambient/api/mesh-policy';
import { backendTrafficPolicies, defaultRetryBudgetConfig } from '../../src/policy/backend-traffic-policy.ts';

function policy(name: string, spec: unknown, namespace = 'shop'): Extension {
  return {
    apiVersion: 'mesh.ambient.dev/v1alpha1',
    kind: 'BackendTrafficPolicy',
    namespace,
    name,
    specJson: typeof spec === 'string' ? spec : JSON.stringify(spec),
  };
}

const reviewsRef = { group: '', kind: 'Service', name: 'reviews' };
const goodSpec = {
  targetRefs: [reviewsRef, { group: '', kind: 'Service', name: 'ratings' }],
  retryConstraint: { budget: { percent: 30, interval: '1m' }, minRetryRate: { count: 5, interval: '500ms' } },
};

describe('backendTrafficPolicies', () => {
  it('gives every targeted Service of the policy namespace the budget it configures', () => {
    const { budgets, problems } = backendTrafficPolicies([policy('budget', goodSpec)]);
    assert.deepEqual(problems, []);
    const expected = { budget: { percent: 30, intervalMs: 60_000 }, minRetryRate: { count: 5, intervalMs: 500 } };
    assert.deepEqual(
      budgets,
      new Map([
        ['reviews.shop.svc.cluster.local', expected],
        ['ratings.shop.svc.cluster.local', expected],
      ]),
    );
  });

  it('names hosts in the given cluster domain', () => {
    const { budgets } = backendTrafficPolicies([policy('budget', { targetRefs: [reviewsRef] })], 'example.org');
    assert.deepEqual([...budgets.keys()], ['reviews.shop.svc.example.org']);
  });

  it('fills what the spec leaves out with the Gateway API defaults', () => {
    const cases: [unknown, unknown][] = [
      [{ targetRefs: [reviewsRef] }, defaultRetryBudgetConfig],
      [{ targetRefs: [reviewsRef], retryConstraint: {} }, defaultRetryBudgetConfig],
      [
        { targetRefs: [reviewsRef], retryConstraint: { budget: { percent: 50 } } },
        { budget: { percent: 50, intervalMs: 10_000 }, minRetryRate: { count: 10, intervalMs: 1000 } },
      ],
      [
        { targetRefs: [{ kind: 'Service', name: 'reviews' }], retryConstraint: { minRetryRate: { count: 0 } } },
        { budget: { percent: 20, intervalMs: 10_000 }, minRetryRate: { count: 0, intervalMs: 1000 } },
      ],
    ];
    for (const [spec, want] of cases) {
      const { budgets, problems } = backendTrafficPolicies([policy('p', spec)]);
      assert.deepEqual(problems, [], JSON.stringify(spec));
      assert.deepEqual(budgets.get('reviews.shop.svc.cluster.local'), want, JSON.stringify(spec));
    }
  });

  it('ignores a policy with a bad field, naming the field and the value', () => {
    const constraint = (c: unknown) => ({ targetRefs: [reviewsRef], retryConstraint: c });
    const cases: [string, unknown, RegExp][] = [
      ['not JSON', '{targetRefs', /^spec "\{targetRefs": not JSON/],
      ['spec not an object', [1], /^spec \[1\]: expected an object/],
      ['no targetRefs', { retryConstraint: {} }, /^spec\.targetRefs missing: expected a list of 1 to 16/],
      ['empty targetRefs', { targetRefs: [] }, /^spec\.targetRefs \[\]: expected a list of 1 to 16/],
      [
        '17 targetRefs',
        { targetRefs: Array.from({ length: 17 }, (_, i) => ({ kind: 'Service', name: `s${i}` })) },
        /^spec\.targetRefs \[.*: expected a list of 1 to 16/,
      ],
      ['a ref that is no object', { targetRefs: ['reviews'] }, /^spec\.targetRefs\[0\] "reviews": expected an object/],
      [
        'another group',
        { targetRefs: [{ ...reviewsRef, group: 'gateway.networking.k8s.io' }] },
        /^spec\.targetRefs\[0\]\.group "gateway\.networking\.k8s\.io": a Service is in group ""/,
      ],
      [
        'another kind',
        { targetRefs: [reviewsRef, { group: '', kind: 'ServiceImport', name: 'x' }] },
        /^spec\.targetRefs\[1\]\.kind "ServiceImport": expected one of Service/,
      ],
      ['a bad name', { targetRefs: [{ group: '', kind: 'Service', name: 'Reviews!' }] }, /^spec\.targetRefs\[0\]\.name "Reviews!": not an object name/],
      ['no name', { targetRefs: [{ group: '', kind: 'Service' }] }, /^spec\.targetRefs\[0\]\.name missing: not an object name/],
      ['retryConstraint a string', constraint('lots'), /^spec\.retryConstraint "lots": expected an object/],
      ['budget a number', constraint({ budget: 20 }), /^spec\.retryConstraint\.budget 20: expected an object/],
      ['percent over 100', constraint({ budget: { percent: 101 } }), /^spec\.retryConstraint\.budget\.percent 101: expected an integer from 0 to 100/],
      ['percent negative', constraint({ budget: { percent: -1 } }), /^spec\.retryConstraint\.budget\.percent -1: /],
      ['percent fractional', constraint({ budget: { percent: 20.5 } }), /^spec\.retryConstraint\.budget\.percent 20\.5: /],
      ['percent a string', constraint({ budget: { percent: '20' } }), /^spec\.retryConstraint\.budget\.percent "20": /],
      ['interval without a unit', constraint({ budget: { interval: '10' } }), /^spec\.retryConstraint\.budget\.interval "10": not a Gateway API duration/],
      [
        'interval in Go syntax Gateway API refuses',
        constraint({ budget: { interval: '1.5s' } }),
        /^spec\.retryConstraint\.budget\.interval "1\.5s": not a Gateway API duration/,
      ],
      ['interval under 1s', constraint({ budget: { interval: '500ms' } }), /^spec\.retryConstraint\.budget\.interval "500ms": expected from 1s to 1h/],
      ['interval over 1h', constraint({ budget: { interval: '61m' } }), /^spec\.retryConstraint\.budget\.interval "61m": expected from 1s to 1h/],
      ['minRetryRate a list', constraint({ minRetryRate: [] }), /^spec\.retryConstraint\.minRetryRate \[\]: expected an object/],
      ['count negative', constraint({ minRetryRate: { count: -1 } }), /^spec\.retryConstraint\.minRetryRate\.count -1: expected an integer from 0 to any/],
      ['count fractional', constraint({ minRetryRate: { count: 0.5 } }), /^spec\.retryConstraint\.minRetryRate\.count 0\.5: /],
      ['rate interval zero', constraint({ minRetryRate: { interval: '0s' } }), /^spec\.retryConstraint\.minRetryRate\.interval "0s": expected from 1ms to 1h/],
      ['rate interval a number', constraint({ minRetryRate: { interval: 1 } }), /^spec\.retryConstraint\.minRetryRate\.interval 1: not a Gateway API duration/],
    ];
    for (const [what, spec, message] of cases) {
      const { budgets, problems } = backendTrafficPolicies([policy('bad', spec)]);
      assert.equal(budgets.size, 0, what);
      assert.equal(problems.length, 1, what);
      assert.equal(problems[0]!.name, 'shop/bad', what);
      assert.match(problems[0]!.message, message, what);
      assert.match(problems[0]!.message, /policy ignored, its services keep the default retry budget$/, what);
    }
  });

  it('reads a missing spec as a problem, not a crash', () => {
    const { budgets, problems } = backendTrafficPolicies([
      { apiVersion: 'mesh.ambient.dev/v1alpha1', kind: 'BackendTrafficPolicy', namespace: 'shop', name: 'empty' },
    ]);
    assert.equal(budgets.size, 0);
    assert.match(problems[0]!.message, /^spec missing: not JSON/);
  });

  it('applies the good policies when another one is bad', () => {
    const { budgets, problems } = backendTrafficPolicies([
      policy('bad', { targetRefs: [{ kind: 'Service', name: 'ratings' }], retryConstraint: { budget: { percent: 200 } } }),
      policy('good', { targetRefs: [reviewsRef] }),
    ]);
    assert.deepEqual([...budgets.keys()], ['reviews.shop.svc.cluster.local']);
    assert.deepEqual(
      problems.map((p) => p.name),
      ['shop/bad'],
    );
  });

  it('leaves other extensions alone', () => {
    const other: Extension[] = [
      { ...policy('x', 'not json'), kind: 'RateLimitPolicy' },
      { ...policy('y', 'not json'), apiVersion: 'gateway.envoyproxy.io/v1alpha1' },
    ];
    assert.deepEqual(backendTrafficPolicies(other), { budgets: new Map(), problems: [] });
  });

  it('gives a Service targeted twice the first policy by namespace/name, and reports the other', () => {
    const { budgets, problems } = backendTrafficPolicies([
      policy('b-second', { targetRefs: [reviewsRef], retryConstraint: { budget: { percent: 90 } } }),
      policy('a-first', { targetRefs: [reviewsRef], retryConstraint: { budget: { percent: 10 } } }),
    ]);
    assert.equal(budgets.get('reviews.shop.svc.cluster.local')?.budget.percent, 10);
    assert.deepEqual(problems, [
      {
        name: 'shop/b-second',
        message: 'service reviews.shop.svc.cluster.local already has a retry budget from shop/a-first; this policy does not apply to it',
      },
    ]);
  });

  it('keeps Services of the same name in different namespaces apart', () => {
    const { budgets, problems } = backendTrafficPolicies([policy('p', { targetRefs: [reviewsRef] }, 'a'), policy('p', { targetRefs: [reviewsRef] }, 'b')]);
    assert.deepEqual(problems, []);
    assert.deepEqual([...budgets.keys()].sort(), ['reviews.a.svc.cluster.local', 'reviews.b.svc.cluster.local']);
  });
});

describe('parseGatewayDurationMs', () => {
  it('reads GEP-2257 durations', () => {
    const cases: [string, number][] = [
      ['10s', 10_000],
      ['500ms', 500],
      ['1m', 60_000],
      ['1h', 3_600_000],
      ['1h30m', 5_400_000],
      ['1h1m1s1ms', 3_661_001],
      ['0s', 0],
      ['99999ms', 99_999],
    ];
    for (const [text, ms] of cases) assert.equal(parseGatewayDurationMs(text), ms, text);
  });

  it('refuses what GEP-2257 does not allow', () => {
    for (const text of ['', '10', '1.5s', '1d', '-1s', '123456s', '1s1s1s1s1s', ' 1s', '1S', '1us']) {
      assert.equal(parseGatewayDurationMs(text), undefined, text);
    }
    assert.equal(parseGatewayDurationMs(10), undefined);
  });
});
