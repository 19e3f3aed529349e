import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { ambient, flagged, gateway, namespace, only, policy, service, waypoint } from './fixtures.ts';

const toService = (name: string) => ({ targetRefs: [{ group: '', kind: 'Service', name }], rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
const toGateway = (name: string) => ({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name }] });

describe('analyze AMB0004: a policy with targetRefs that no waypoint enforces', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    {
      name: 'fires when the target Service has no waypoint',
      objects: [ambient('shop'), service('reviews'), policy('p', toService('reviews'))],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires when the target Service opts out with use-waypoint=none',
      objects: [
        ambient('shop', 'waypoint'),
        waypoint('waypoint'),
        service('reviews', { labels: { 'istio.io/use-waypoint': 'none' } }),
        policy('p', toService('reviews')),
      ],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires when the target Service does not exist',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), policy('p', toService('reviewz'))],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires when the target Gateway does not exist',
      objects: [ambient('shop'), policy('p', toGateway('waypont'))],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires once per unenforced target',
      objects: [
        ambient('shop'),
        service('a'),
        service('b'),
        policy('p', {
          targetRefs: [
            { kind: 'Service', group: '', name: 'a' },
            { kind: 'Service', group: '', name: 'b' },
          ],
        }),
      ],
      want: ['AuthorizationPolicy shop/p', 'AuthorizationPolicy shop/p'],
    },
    // Near misses.
    {
      name: 'not when the Service inherits its namespace waypoint',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), service('reviews'), policy('p', toService('reviews'))],
      want: [],
    },
    {
      name: 'not when the Service has its own waypoint label',
      objects: [
        ambient('shop'),
        waypoint('reviews-wp'),
        service('reviews', { labels: { 'istio.io/use-waypoint': 'reviews-wp' } }),
        policy('p', toService('reviews')),
      ],
      want: [],
    },
    { name: 'not when targeting an existing waypoint Gateway', objects: [ambient('shop'), waypoint('waypoint'), policy('p', toGateway('waypoint'))], want: [] },
    {
      name: 'not when targeting an ingress Gateway (enforced by the gateway itself)',
      objects: [ambient('shop'), gateway('ingress'), policy('p', toGateway('ingress'))],
      want: [],
    },
    {
      name: 'not when the label names a missing waypoint (AMB0002 instead)',
      objects: [ambient('shop', 'gone'), service('reviews'), policy('p', toService('reviews'))],
      want: [],
    },
    {
      name: 'not for kinds it cannot see (ServiceEntry)',
      objects: [ambient('shop'), policy('p', { targetRefs: [{ group: 'networking.istio.io', kind: 'ServiceEntry', name: 'ext' }] })],
      want: [],
    },
    { name: 'not for AUDIT', objects: [ambient('shop'), service('reviews'), policy('p', { ...toService('reviews'), action: 'AUDIT' })], want: [] },
    { name: 'not for a ztunnel policy (no targetRefs)', objects: [ambient('shop'), service('reviews'), policy('p', { rules: [{}] })], want: [] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0004', ...c.objects), c.want));

  it('says why the Service is unbound and binds it to the existing waypoint', () => {
    const f = only(
      'AMB0004',
      namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }),
      waypoint('waypoint'),
      service('reviews'),
      policy('p', toService('reviews')),
    );
    assert.equal(f.severity, 'Error');
    assert.equal(
      f.message,
      'spec.targetRefs[0] names Service shop/reviews, which is not bound to a waypoint (it has no istio.io/use-waypoint label, nor has namespace shop), ' +
        'so no waypoint enforces the policy and ztunnel ignores policies with targetRefs: the traffic it should restrict is not checked',
    );
    assert.equal(f.fix, 'bind the service to a waypoint: kubectl label service reviews -n shop istio.io/use-waypoint=waypoint --overwrite');
  });

  it('deploys a waypoint first when the namespace has none', () => {
    const f = only('AMB0004', ambient('shop'), service('reviews'), policy('p', toService('reviews')));
    assert.equal(
      f.fix,
      'deploy a waypoint and bind the service to it: kubectl ambient waypoint apply -n shop --name waypoint; kubectl label service reviews -n shop istio.io/use-waypoint=waypoint --overwrite',
    );
  });

  it('lists the Services that do exist when the target is misspelt', () => {
    const f = only('AMB0004', ambient('shop', 'waypoint'), waypoint('waypoint'), service('reviews'), service('ratings'), policy('p', toService('reviewz')));
    assert.equal(f.fix, 'fix spec.targetRefs[0].name (services in shop: ratings, reviews) or create Service shop/reviewz');
  });
});
