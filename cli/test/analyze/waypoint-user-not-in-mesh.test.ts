import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { ambient, flagged, namespace, only, pod, service, waypoint } from './fixtures.ts';

const use = { 'istio.io/use-waypoint': 'waypoint' };

describe('analyze AMB0007: a waypoint user outside the ambient mesh', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    { name: 'fires on a Namespace with use-waypoint but no dataplane-mode', objects: [namespace('shop', use), waypoint('waypoint')], want: ['Namespace shop'] },
    {
      name: 'fires on a Namespace with dataplane-mode=none',
      objects: [namespace('shop', { ...use, 'istio.io/dataplane-mode': 'none' }), waypoint('waypoint')],
      want: ['Namespace shop'],
    },
    {
      name: 'fires on a Service in an unenrolled namespace',
      objects: [namespace('shop'), waypoint('waypoint'), service('reviews', { labels: use })],
      want: ['Service shop/reviews'],
    },
    {
      name: 'fires on a Pod in an unenrolled namespace',
      objects: [namespace('shop'), waypoint('waypoint', { waypointFor: 'workload' }), pod('db-1', { labels: use })],
      want: ['Pod shop/db-1'],
    },
    {
      name: 'fires on a Pod that opts out in an ambient namespace',
      objects: [ambient('shop'), waypoint('waypoint', { waypointFor: 'workload' }), pod('db-1', { labels: { ...use, 'istio.io/dataplane-mode': 'none' } })],
      want: ['Pod shop/db-1'],
    },
    // Near misses.
    { name: 'not for an enrolled namespace', objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), service('reviews', { labels: use })], want: [] },
    {
      name: 'not for a Service whose pods enrol themselves',
      objects: [
        namespace('shop'),
        waypoint('waypoint'),
        service('reviews', { labels: use }),
        pod('reviews-1', { labels: { app: 'reviews', 'istio.io/dataplane-mode': 'ambient' } }),
      ],
      want: [],
    },
    {
      name: 'not for a Pod that enrols itself',
      objects: [
        namespace('shop'),
        waypoint('waypoint', { waypointFor: 'workload' }),
        pod('db-1', { labels: { ...use, 'istio.io/dataplane-mode': 'ambient' } }),
      ],
      want: [],
    },
    {
      name: 'not for a sidecar pod',
      objects: [namespace('shop'), waypoint('waypoint', { waypointFor: 'workload' }), pod('db-1', { labels: use, sidecar: true })],
      want: [],
    },
    { name: 'not for a Service whose namespace was not listed (cannot tell)', objects: [waypoint('waypoint'), service('reviews', { labels: use })], want: [] },
    { name: 'not for use-waypoint=none', objects: [namespace('shop', { 'istio.io/use-waypoint': 'none' })], want: [] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0007', ...c.objects), c.want));

  it('states the label as found and enrols the namespace', () => {
    const f = only('AMB0007', namespace('shop'), waypoint('waypoint'), service('reviews', { labels: use }));
    assert.equal(f.severity, 'Warning');
    assert.equal(
      f.message,
      "service reviews asks for waypoint shop/waypoint but namespace shop has no istio.io/dataplane-mode label: ztunnel does not capture its pods, so the waypoint is not in their traffic's path",
    );
    assert.equal(f.fix, 'enroll the namespace: kubectl label namespace shop istio.io/dataplane-mode=ambient --overwrite');
  });

  it('enrols the pod itself when its own label opts it out', () => {
    const f = only(
      'AMB0007',
      ambient('shop'),
      waypoint('waypoint', { waypointFor: 'workload' }),
      pod('db-1', { labels: { ...use, 'istio.io/dataplane-mode': 'none' } }),
    );
    assert.match(f.message, /namespace shop has istio\.io\/dataplane-mode=ambient and the pod has istio\.io\/dataplane-mode=none/);
    assert.match(f.fix, /^enroll the pod: kubectl label pod db-1 -n shop istio\.io\/dataplane-mode=ambient --overwrite/);
  });
});
