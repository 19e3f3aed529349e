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

  it('sorts the extensions by kind and name', () => {
    assert.deepEqual(
      extensionsOf(btp('z', targetWeb), btp('a', targetWeb)).map((e) => `${e.kind}/${e.name}`),
      ['BackendTrafficPolicy/a', 'BackendTrafficPolicy/z'],
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

  describe('the Accepted condition and the last accepted spec', () => {
    const withUid = (o: KubeObject, uid: string, generation: number): KubeObject => ({ ...o, metadata: { ...o.metadata!, uid, generation } });
    const good = withUid(btp('budget', { ...targetWeb, retryConstraint: { budget: { percent: 30 } } }), 'u1', 1);
    const bad = withUid(btp('budget', { ...targetWeb, retryConstraint: { budget: { percent: 300 } } }), 'u1', 2);
    const conditionOf = (m: ReturnType<typeof buildMeshModel>) => m.statuses.find((s) => s.kind === 'BackendTrafficPolicy')!.conditions[0]!;

    it('accepts a valid policy and delivers it', () => {
      const m = buildMeshModel(inputs(...base(), good), opts);
      assert.deepEqual(conditionOf(m), {
        type: 'Accepted',
        status: 'True',
        reason: 'Accepted',
        message: 'the policy is valid and applied',
        observedGeneration: 1,
      });
      assert.equal(m.waypoints.get('shop/wp')!.extensions!.length, 1);
    });

    it('refuses a new invalid policy with the field and value, and delivers nothing', () => {
      const m = buildMeshModel(inputs(...base(), bad), opts);
      const c = conditionOf(m);
      assert.equal(c.status, 'False');
      assert.equal(c.reason, 'Invalid');
      assert.match(c.message, /^spec\.retryConstraint\.budget\.percent 300: expected an integer from 0 to 100; the policy is not applied$/);
      assert.deepEqual(m.waypoints.get('shop/wp')!.extensions, []);
    });

    it('keeps the last accepted spec in force when an edit makes the policy invalid', () => {
      const first = buildMeshModel(inputs(...base(), good), opts);
      const second = buildMeshModel(inputs(...base(), bad), opts, first);
      assert.match(conditionOf(second).message, /percent 300: .*; the last accepted spec \(generation 1\) stays in force$/);
      assert.equal(conditionOf(second).observedGeneration, 2);
      assert.equal(JSON.parse(second.waypoints.get('shop/wp')!.extensions![0]!.specJson!).retryConstraint.budget.percent, 30);
      // ...and across further recomputations while it stays invalid.
      const third = buildMeshModel(inputs(...base(), bad), opts, second);
      assert.equal(JSON.parse(third.waypoints.get('shop/wp')!.extensions![0]!.specJson!).retryConstraint.budget.percent, 30);
    });

    it('does not let a recreated policy (another uid) inherit the deleted one', () => {
      const first = buildMeshModel(inputs(...base(), good), opts);
      const second = buildMeshModel(inputs(...base(), withUid(bad, 'u2', 1)), opts, first);
      assert.match(conditionOf(second).message, /the policy is not applied$/);
      assert.deepEqual(second.waypoints.get('shop/wp')!.extensions, []);
    });

    it('forgets a deleted policy', () => {
      const first = buildMeshModel(inputs(...base(), good), opts);
      const second = buildMeshModel(inputs(...base()), opts, first);
      assert.equal(second.acceptedExtensions.size, 0);
    });
  });
});
