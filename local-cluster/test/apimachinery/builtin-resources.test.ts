import assert from 'node:assert/strict';
import { builtinResources, resourcesFromCrd } from '../../src/apimachinery/builtin-resources.ts';
import { ApiError } from '../../src/apimachinery/errors.ts';
import { groupVersion, type KubeObject } from '../../src/apimachinery/types.ts';

describe('builtinResources', () => {
  const find = (plural: string) => builtinResources.find((r) => r.plural === plural)!;

  it('advertises what the real API server does for the kinds kubectl users type', () => {
    const expected: [string, string, string, boolean, string[], string[]][] = [
      ['namespaces', 'v1', 'Namespace', false, ['ns'], ['status']],
      ['nodes', 'v1', 'Node', false, ['no'], ['status']],
      ['pods', 'v1', 'Pod', true, ['po'], ['status', 'log']],
      ['services', 'v1', 'Service', true, ['svc'], ['status']],
      ['serviceaccounts', 'v1', 'ServiceAccount', true, ['sa'], ['token']],
      ['configmaps', 'v1', 'ConfigMap', true, ['cm'], []],
      ['secrets', 'v1', 'Secret', true, [], []],
      ['events', 'v1', 'Event', true, ['ev'], []],
      ['endpoints', 'v1', 'Endpoints', true, ['ep'], []],
      ['deployments', 'apps/v1', 'Deployment', true, ['deploy'], ['status', 'scale']],
      ['daemonsets', 'apps/v1', 'DaemonSet', true, ['ds'], ['status']],
      ['replicasets', 'apps/v1', 'ReplicaSet', true, ['rs'], ['status', 'scale']],
      ['endpointslices', 'discovery.k8s.io/v1', 'EndpointSlice', true, [], []],
      ['leases', 'coordination.k8s.io/v1', 'Lease', true, [], []],
      ['tokenreviews', 'authentication.k8s.io/v1', 'TokenReview', false, [], []],
      ['customresourcedefinitions', 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', false, ['crd', 'crds'], ['status']],
    ];
    for (const [plural, gv, kind, namespaced, shortNames, subresources] of expected) {
      const r = find(plural);
      assert.ok(r, plural);
      assert.deepEqual([groupVersion(r), r.kind, r.namespaced, r.shortNames, r.subresources], [gv, kind, namespaced, shortNames, subresources], plural);
      assert.equal(r.listKind, `${kind}List`);
      assert.equal(r.singular, kind.toLowerCase());
    }
    assert.deepEqual(find('tokenreviews').verbs, ['create']);
    assert.ok(find('pods').verbs.includes('watch'));
    assert.deepEqual(
      builtinResources
        .filter((r) => r.categories.includes('all'))
        .map((r) => r.plural)
        .sort(),
      ['daemonsets', 'deployments', 'pods', 'replicasets', 'services'],
    );
  });
});

describe('resourcesFromCrd', () => {
  const crd: KubeObject = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'authorizationpolicies.security.istio.io' },
    spec: {
      group: 'security.istio.io',
      scope: 'Namespaced',
      names: { kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', singular: 'authorizationpolicy', shortNames: ['ap'], categories: ['istio-io'] },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object' } } } },
          additionalPrinterColumns: [{ name: 'Action', type: 'string', jsonPath: '.spec.action' }],
        },
        { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: { type: 'object' } } },
        { name: 'v1alpha1', served: false, storage: false },
      ],
    },
  };

  it('serves one resource per served version with names, scope, schema, status and columns', () => {
    const [v1, beta, ...rest] = resourcesFromCrd(crd);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      [v1!.group, v1!.version, v1!.kind, v1!.listKind, v1!.plural, v1!.singular, v1!.namespaced, v1!.shortNames, v1!.categories, v1!.subresources],
      [
        'security.istio.io',
        'v1',
        'AuthorizationPolicy',
        'AuthorizationPolicyList',
        'authorizationpolicies',
        'authorizationpolicy',
        true,
        ['ap'],
        ['istio-io'],
        ['status'],
      ],
    );
    assert.deepEqual(v1!.printerColumns, [{ name: 'Action', type: 'string', jsonPath: '.spec.action' }]);
    assert.deepEqual(v1!.schema, { type: 'object', properties: { spec: { type: 'object' } } });
    assert.equal(beta!.version, 'v1beta1');
    assert.deepEqual(beta!.subresources, []);
    assert.deepEqual(
      beta!.printerColumns!.map((c) => c.name),
      ['Age'],
    );
  });

  it('marks cluster-scoped CRDs and defaults singular and listKind', () => {
    const cluster = structuredClone(crd);
    const spec = cluster.spec as { scope: string; names: Record<string, unknown> };
    spec.scope = 'Cluster';
    delete spec.names.singular;
    const [r] = resourcesFromCrd(cluster);
    assert.equal(r!.namespaced, false);
    assert.equal(r!.singular, 'authorizationpolicy');
  });

  it('rejects a CRD without names with BadRequest', () => {
    const bad = { ...crd, spec: { group: 'x.io', versions: [] } };
    assert.throws(
      () => resourcesFromCrd(bad),
      (err: unknown) => err instanceof ApiError && err.reason === 'BadRequest',
    );
  });
});
