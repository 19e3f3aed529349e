import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { ambient, flagged, gateway, only, pod, service, waypoint } from './fixtures.ts';

const use = (name: string, ns?: string) => ({ 'istio.io/use-waypoint': name, ...(ns ? { 'istio.io/use-waypoint-namespace': ns } : {}) });

describe('analyze AMB0002: istio.io/use-waypoint names a waypoint that does not exist', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    { name: 'fires on a Namespace naming a missing waypoint', objects: [ambient('shop', 'waypont'), waypoint('waypoint')], want: ['Namespace shop'] },
    {
      name: 'fires on a Service naming a missing waypoint',
      objects: [ambient('shop'), service('reviews', { labels: use('reviews-wp') })],
      want: ['Service shop/reviews'],
    },
    { name: 'fires on a Pod naming a missing waypoint', objects: [ambient('shop'), pod('db-1', { labels: use('db-wp') })], want: ['Pod shop/db-1'] },
    {
      name: 'fires when the Gateway of that name is not of class istio-waypoint',
      objects: [ambient('shop', 'ingress'), gateway('ingress')],
      want: ['Namespace shop'],
    },
    {
      name: 'fires when use-waypoint-namespace points where the waypoint is not',
      objects: [ambient('shop', 'shared', use('shared', 'infra')), waypoint('shared', { ns: 'shop' })],
      want: ['Namespace shop'],
    },
    {
      name: 'fires when the waypoint is in another namespace and use-waypoint-namespace is missing',
      objects: [ambient('shop', 'shared'), waypoint('shared', { ns: 'infra' })],
      want: ['Namespace shop'],
    },
    // Near misses.
    {
      name: 'not when the waypoint exists in the same namespace',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), service('reviews', { labels: use('waypoint') })],
      want: [],
    },
    {
      name: 'not when use-waypoint-namespace names where it exists',
      objects: [ambient('shop', 'shared', use('shared', 'infra')), waypoint('shared', { ns: 'infra' })],
      want: [],
    },
    { name: 'not for use-waypoint=none', objects: [ambient('shop'), service('reviews', { labels: use('none') })], want: [] },
    { name: 'not for objects without the label', objects: [ambient('shop'), service('reviews'), pod('reviews-1')], want: [] },
    {
      name: 'not for a Service that only inherits a missing waypoint (reported once, on the Namespace)',
      objects: [ambient('shop', 'gone'), service('reviews')],
      want: ['Namespace shop'],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0002', ...c.objects), c.want));

  it('names the label, the missing waypoint, a waypoint of that name elsewhere, and the commands to fix it', () => {
    const f = only('AMB0002', ambient('shop', 'shared'), waypoint('shared', { ns: 'infra' }), waypoint('waypoint'));
    assert.equal(f.severity, 'Error');
    assert.deepEqual(f.object, { kind: 'Namespace', name: 'shop' });
    assert.equal(
      f.message,
      'namespace shop asks for waypoint shop/shared (istio.io/use-waypoint=shared) but no waypoint shop/shared exists (a waypoint of that name is in namespace infra): ' +
        "its traffic is refused or goes without the waypoint's policies and routes",
    );
    assert.equal(
      f.fix,
      'create the waypoint: kubectl ambient waypoint apply -n shop --name shared, or point the label at an existing waypoint (waypoint): kubectl label namespace shop istio.io/use-waypoint=waypoint --overwrite',
    );
  });

  it('says which class a same-named Gateway has', () => {
    const f = only('AMB0002', ambient('shop'), service('reviews', { labels: use('ingress') }), gateway('ingress'));
    assert.match(f.message, /Gateway shop\/ingress has gatewayClassName "istio", not istio-waypoint, so it is not a waypoint/);
  });
});
