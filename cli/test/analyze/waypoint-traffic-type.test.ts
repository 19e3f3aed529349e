import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { ambient, flagged, only, pod, service, waypoint } from './fixtures.ts';

const use = (name = 'waypoint') => ({ 'istio.io/use-waypoint': name });

describe('analyze AMB0008: waypoint-for does not match how the waypoint is bound', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    {
      name: 'fires on a workload waypoint bound from a Service',
      objects: [ambient('shop'), waypoint('waypoint', { waypointFor: 'workload' }), service('reviews', { labels: use() })],
      want: ['Gateway shop/waypoint'],
    },
    {
      name: 'fires on a service waypoint (the default) bound only from pods',
      objects: [ambient('shop'), waypoint('waypoint'), service('db'), pod('db-1', { labels: { app: 'db', ...use() } })],
      want: ['Gateway shop/waypoint'],
    },
    {
      name: 'fires on an explicit service waypoint bound only from pods',
      objects: [ambient('shop'), waypoint('waypoint', { waypointFor: 'service' }), pod('db-1', { labels: use() })],
      want: ['Gateway shop/waypoint'],
    },
    {
      name: 'fires on a none waypoint that something binds',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint', { waypointFor: 'none' })],
      want: ['Gateway shop/waypoint'],
    },
    {
      name: 'fires on an invalid waypoint-for value',
      objects: [ambient('shop'), waypoint('waypoint', { waypointFor: 'services' })],
      want: ['Gateway shop/waypoint'],
    },
    {
      name: 'fires for a cross-namespace Service binding',
      objects: [
        ambient('infra'),
        ambient('shop'),
        waypoint('shared', { ns: 'infra', waypointFor: 'workload' }),
        service('reviews', { labels: { ...use('shared'), 'istio.io/use-waypoint-namespace': 'infra' } }),
      ],
      want: ['Gateway infra/shared'],
    },
    // Near misses.
    {
      name: 'not for a service waypoint bound from a Service',
      objects: [ambient('shop'), waypoint('waypoint'), service('reviews', { labels: use() })],
      want: [],
    },
    {
      name: 'not for an all waypoint bound from anything',
      objects: [
        ambient('shop', 'waypoint'),
        waypoint('waypoint', { waypointFor: 'all' }),
        service('reviews', { labels: use() }),
        pod('db-1', { labels: use() }),
      ],
      want: [],
    },
    {
      name: 'not for a workload waypoint bound from pods',
      objects: [ambient('shop'), waypoint('waypoint', { waypointFor: 'workload' }), pod('db-1', { labels: use() })],
      want: [],
    },
    {
      name: 'not for a workload waypoint bound from a Namespace (its pods use it)',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint', { waypointFor: 'workload' }), service('reviews')],
      want: [],
    },
    {
      name: 'not for a service waypoint bound from pods and from the Namespace',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), pod('db-1', { labels: use() })],
      want: [],
    },
    { name: 'not for a none waypoint nothing binds', objects: [ambient('shop'), waypoint('waypoint', { waypointFor: 'none' })], want: [] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0008', ...c.objects), c.want));

  it('names the Services and relabels the waypoint', () => {
    const f = only(
      'AMB0008',
      ambient('shop'),
      waypoint('waypoint', { waypointFor: 'workload' }),
      service('reviews', { labels: use() }),
      service('ratings', { labels: use() }),
    );
    assert.equal(f.severity, 'Warning');
    assert.equal(
      f.message,
      'the waypoint takes only workload traffic (istio.io/waypoint-for=workload) but services ratings, reviews are bound to it with istio.io/use-waypoint: traffic addressed to those services skips the waypoint',
    );
    assert.equal(
      f.fix,
      "kubectl label gateway waypoint -n shop istio.io/waypoint-for=all --overwrite (or remove the services' label: kubectl label service reviews -n shop istio.io/use-waypoint-)",
    );
  });

  it('names the pods and offers to bind their Service instead', () => {
    const f = only('AMB0008', ambient('shop'), waypoint('waypoint'), service('db'), pod('db-1', { labels: { app: 'db', ...use() } }));
    assert.equal(
      f.message,
      'the waypoint takes only service traffic (istio.io/waypoint-for=service, the default) but is bound only from pod db-1: traffic addressed to that pod skips the waypoint',
    );
    assert.equal(
      f.fix,
      'kubectl label gateway waypoint -n shop istio.io/waypoint-for=workload --overwrite (or all, if Services will use it too), or bind their Service instead: kubectl label service db -n shop istio.io/use-waypoint=waypoint --overwrite',
    );
  });
});
