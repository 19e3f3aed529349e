import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { flagged, gateway, grpcRoute, httpRoute, only, service, waypoint } from './fixtures.ts';

const parent = (ref: any) => ({ parentRefs: [ref], rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }] });

describe('analyze AMB0005: a route whose parent does not exist', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    {
      name: 'fires on a missing Gateway (kind and group defaulted)',
      objects: [service('reviews'), httpRoute('r', parent({ name: 'waypont' }))],
      want: ['HTTPRoute shop/r'],
    },
    {
      name: 'fires on a Service parent that does not exist',
      objects: [service('reviews'), httpRoute('r', parent({ group: '', kind: 'Service', name: 'reviewz' }))],
      want: ['HTTPRoute shop/r'],
    },
    { name: 'fires on a GRPCRoute too', objects: [service('reviews'), grpcRoute('g', parent({ name: 'gone' }))], want: ['GRPCRoute shop/g'] },
    {
      name: 'fires when the parent is in another namespace than named',
      objects: [service('reviews'), gateway('ingress', { ns: 'infra' }), httpRoute('r', parent({ name: 'ingress' }))],
      want: ['HTTPRoute shop/r'],
    },
    // Near misses.
    {
      name: 'not for an existing waypoint parent',
      objects: [waypoint('waypoint'), service('reviews'), httpRoute('r', parent({ name: 'waypoint' }))],
      want: [],
    },
    {
      name: 'not for a Gateway in the namespace the ref names',
      objects: [gateway('ingress', { ns: 'infra' }), service('reviews'), httpRoute('r', parent({ name: 'ingress', namespace: 'infra' }))],
      want: [],
    },
    {
      name: 'not for an existing Service parent (core group spelled "core")',
      objects: [service('reviews'), httpRoute('r', parent({ group: 'core', kind: 'Service', name: 'reviews' }))],
      want: [],
    },
    {
      name: 'not for kinds it cannot see (ServiceEntry)',
      objects: [service('reviews'), httpRoute('r', parent({ group: 'networking.istio.io', kind: 'ServiceEntry', name: 'ext' }))],
      want: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0005', ...c.objects), c.want));

  it('hints at kind: Service when a Service of the defaulted Gateway name exists', () => {
    const f = only('AMB0005', service('reviews'), httpRoute('r', parent({ name: 'reviews' })));
    assert.equal(f.severity, 'Error');
    assert.equal(
      f.message,
      'spec.parentRefs[0] names Gateway shop/reviews, which does not exist, so the route is attached to nothing and none of its rules apply',
    );
    assert.equal(
      f.fix,
      'fix spec.parentRefs[0].name or create Gateway shop/reviews; a Service of that name exists: for mesh traffic set kind: Service, group: ""',
    );
  });
});

describe('analyze AMB0006: a route whose backend Service does not exist', () => {
  const route = (...backendRefs: any[]) => httpRoute('r', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ backendRefs }] });
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    { name: 'fires on a missing backend Service', objects: [service('reviews'), route({ name: 'reviews-v3', port: 9080 })], want: ['HTTPRoute shop/r'] },
    {
      name: 'fires once per missing backend',
      objects: [service('reviews'), route({ name: 'v3' }, { name: 'reviews' }, { name: 'v4' })],
      want: ['HTTPRoute shop/r', 'HTTPRoute shop/r'],
    },
    {
      name: 'fires on a backend in a namespace where it is not',
      objects: [service('reviews'), route({ name: 'reviews', namespace: 'other' })],
      want: ['HTTPRoute shop/r'],
    },
    {
      name: 'fires on GRPCRoute backends',
      objects: [
        service('reviews'),
        grpcRoute('g', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ backendRefs: [{ name: 'grpc-v2' }] }] }),
      ],
      want: ['GRPCRoute shop/g'],
    },
    // Near misses.
    {
      name: 'not for existing backends',
      objects: [service('reviews'), service('reviews-v2'), route({ name: 'reviews' }, { name: 'reviews-v2', weight: 10 })],
      want: [],
    },
    {
      name: 'not for backends of other kinds',
      objects: [service('reviews'), route({ group: 'networking.istio.io', kind: 'Hostname', name: 'ext.example' })],
      want: [],
    },
    {
      name: 'not for a rule with no backendRefs (a redirect)',
      objects: [
        service('reviews'),
        httpRoute('r', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ filters: [{ type: 'RequestRedirect' }] }] }),
      ],
      want: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0006', ...c.objects), c.want));

  it('names the backend path and the Services that exist', () => {
    const f = only('AMB0006', service('reviews'), service('reviews-v1'), route({ name: 'reviews' }, { name: 'reviews-v3' }));
    assert.equal(f.message, 'spec.rules[0].backendRefs[1] names Service shop/reviews-v3, which does not exist, so requests routed to it fail with HTTP 500');
    assert.equal(f.fix, 'fix spec.rules[0].backendRefs[1].name (services in shop: reviews, reviews-v1) or create Service shop/reviews-v3');
  });
});
