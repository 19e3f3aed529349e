import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/model/inputs.ts';
import { buildMeshModel } from '../../src/model/mesh-model.ts';
import { inputs, namespace, opts, service, waypoint } from './fixtures.ts';

const btp = (name: string, spec: object, ns = 'shop'): KubeObject => ({
  apiVersion: 'mesh.ambient.dev/v1alpha1',
  kind: 'BackendTrafficPolicy',
  metadata: { name, namespace: ns, generation: 1 },
  spec,
});
const targetWeb = { targetRefs: [{ group: '', kind: 'Service', name: 'web' }] };
const base = () => [namespace('shop'), waypoint('wp'), service('web', { labels: { 'istio.io/use-waypoint': 'wp' } })];
const extensionsOf = (...objects: (KubeObject | KubeObject[])[]) => buildMeshModel(inputs(...base(), ...objects), opts).waypoints.get('shop/wp')!.extensions!;
const specOf = (...objects: (KubeObject | KubeObject[])[]) => JSON.parse(extensionsOf(...objects)[0]!.specJson!);

describe('model: extensions (mesh.ambient.dev policies passed to waypoints)', () => {
  it('passes a BackendTrafficPolicy through as an extension', () => {
    const spec = { ...targetWeb, retryConstraint: { budget: { percent: 30, interval: '20s' }, minRetryRate: { count: 5, interval: '2s' } } };
    assert.deepEqual(extensionsOf(btp('web-budget', spec)), [
      { apiVersion: 'mesh.ambient.dev/v1alpha1', kind: 'BackendTrafficPolicy', namespace: 'shop', name: 'web-budget', specJson: JSON.stringify(spec) },
    ]);
  });

  const defaults: { name: string; retryConstraint: object; want: object }[] = [
    {
      name: 'an empty retryConstraint gets the whole default (20 % over 10 s, at least 10 per 1 s)',
      retryConstraint: {},
      want: { budget: { percent: 20, interval: '10s' }, minRetryRate: { count: 10, interval: '1s' } },
    },
    {
      name: 'a budget percent alone keeps its value and gets the default interval',
      retryConstraint: { budget: { percent: 50 } },
      want: { budget: { percent: 50, interval: '10s' }, minRetryRate: { count: 10, interval: '1s' } },
    },
    {
      name: 'a percent of 0 is kept (no retries beyond the minimum rate)',
      retryConstraint: { budget: { percent: 0 }, minRetryRate: { count: 3 } },
      want: { budget: { percent: 0, interval: '10s' }, minRetryRate: { count: 3, interval: '1s' } },
    },
  ];
  for (const c of defaults) {
    it(`fills the CRD defaults the local API server does not apply: ${c.name}`, () => {
      assert.deepEqual(specOf(btp('b', { ...targetWeb, retryConstraint: c.retryConstraint })).retryConstraint, c.want);
    });
  }

  it('leaves a BackendTrafficPolicy without retryConstraint as written (no budget, as upstream)', () => {
    assert.deepEqual(specOf(btp('b', targetWeb)), targetWeb);
  });

  it('passes RateLimitPolicy and FaultInjectionPolicy untouched, sorted by kind and name', () => {
    const rl: KubeObject = {
      apiVersion: 'mesh.ambient.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'rl', namespace: 'shop' },
      spec: { limits: {} },
    };
    const fi: KubeObject = {
      apiVersion: 'mesh.ambient.dev/v1alpha1',
      kind: 'FaultInjectionPolicy',
      metadata: { name: 'fi', namespace: 'shop' },
      spec: { fault: {} },
    };
    assert.deepEqual(
      extensionsOf(rl, btp('z', targetWeb), fi, btp('a', targetWeb)).map((e) => `${e.kind}/${e.name} ${e.specJson}`),
      [
        'BackendTrafficPolicy/a {"targetRefs":[{"group":"","kind":"Service","name":"web"}]}',
        'BackendTrafficPolicy/z {"targetRefs":[{"group":"","kind":"Service","name":"web"}]}',
        'FaultInjectionPolicy/fi {"fault":{}}',
        'RateLimitPolicy/rl {"limits":{}}',
      ],
    );
  });

  it("includes the policies of a bound service's namespace when the waypoint lives elsewhere, and no others", () => {
    const model = buildMeshModel(
      inputs(
        namespace('mesh'),
        namespace('shop'),
        namespace('bank'),
        waypoint('wp', { ns: 'mesh' }),
        service('web', { labels: { 'istio.io/use-waypoint': 'wp', 'istio.io/use-waypoint-namespace': 'mesh' } }),
        btp('web-budget', targetWeb, 'shop'),
        btp('vault-budget', { targetRefs: [{ group: '', kind: 'Service', name: 'vault' }] }, 'bank'),
      ),
      opts,
    );
    assert.deepEqual(
      model.waypoints.get('mesh/wp')!.extensions!.map((e) => `${e.namespace}/${e.name}`),
      ['shop/web-budget'],
    );
  });
});
