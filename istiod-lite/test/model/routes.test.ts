import assert from 'node:assert/strict';
import type { Filter, Route } from '@ambient/api';
import { buildMeshModel, type Condition, type MeshModel } from '../../src/model/mesh-model.ts';
import { grpcRoute, httpRoute, inputs, namespace, opts, service, waypoint } from './fixtures.ts';

const svcParent = (name: string, port?: number) => ({ group: '', kind: 'Service', name, ...(port ? { port } : {}) });
const base = () => [
  namespace('shop'),
  waypoint('wp'),
  service('web', { labels: { 'istio.io/use-waypoint': 'wp' } }),
  service('web-v2', { ip: '10.96.0.21' }),
  service('shadow', { ip: '10.96.0.22', ports: [{ name: 'http', port: 8080 }] }),
];

const routesOf = (model: MeshModel): Route[] => model.waypoints.get('shop/wp')!.services![0]!.routes!;
const filtersOf = (model: MeshModel): Filter[] | undefined => routesOf(model)[0]!.rules![0]!.filters;
/** [type, status, reason] of every condition on the route's first parent. */
const conditionsOf = (model: MeshModel, kind = 'HTTPRoute'): string[][] =>
  model.statuses.find((s) => s.kind === kind)!.parents![0]!.conditions.map((c: Condition) => [c.type, c.status, c.reason]);
const conditionOf = (model: MeshModel, type: string, kind = 'HTTPRoute'): Condition =>
  model.statuses.find((s) => s.kind === kind)!.parents![0]!.conditions.find((c) => c.type === type)!;

const withFilter = (filter: object, extra: object = {}) =>
  httpRoute('r', { parentRefs: [svcParent('web')], rules: [{ filters: [filter], backendRefs: [{ name: 'web', port: 80 }], ...extra }] });
const mirror = (requestMirror: object) => withFilter({ type: 'RequestMirror', requestMirror });
const build = (...objects: Parameters<typeof inputs>) => buildMeshModel(inputs(...base(), ...objects), opts);

describe('model: routes', () => {
  describe('RequestMirror', () => {
    const shadow = { hostname: 'shadow.shop.svc.cluster.local', port: 8080 };
    const cases: { name: string; spec: object; want: Filter[] | undefined }[] = [
      { name: 'every request when no percent is given', spec: { backendRef: { name: 'shadow', port: 8080 } }, want: [{ requestMirror: { backend: shadow } }] },
      { name: 'a percent', spec: { backendRef: { name: 'shadow', port: 8080 }, percent: 25 }, want: [{ requestMirror: { backend: shadow, percent: 25 } }] },
      {
        name: '100 percent as every request',
        spec: { backendRef: { name: 'shadow', port: 8080 }, percent: 100 },
        want: [{ requestMirror: { backend: shadow } }],
      },
      {
        name: 'a fraction over the default denominator 100',
        spec: { backendRef: { name: 'shadow', port: 8080 }, fraction: { numerator: 5 } },
        want: [{ requestMirror: { backend: shadow, percent: 5 } }],
      },
      {
        name: 'a fraction rounded to the nearest percent',
        spec: { backendRef: { name: 'shadow', port: 8080 }, fraction: { numerator: 1, denominator: 3 } },
        want: [{ requestMirror: { backend: shadow, percent: 33 } }],
      },
      {
        name: 'a tiny fraction as 1 percent, never as 0 (which means every request)',
        spec: { backendRef: { name: 'shadow', port: 8080 }, fraction: { numerator: 1, denominator: 1000 } },
        want: [{ requestMirror: { backend: shadow, percent: 1 } }],
      },
      { name: 'nothing for 0 percent', spec: { backendRef: { name: 'shadow', port: 8080 }, percent: 0 }, want: undefined },
      {
        name: 'nothing for a zero fraction',
        spec: { backendRef: { name: 'shadow', port: 8080 }, fraction: { numerator: 0, denominator: 10 } },
        want: undefined,
      },
    ];
    for (const c of cases) {
      it(`mirrors ${c.name}`, () => {
        const model = build(mirror(c.spec));
        assert.deepEqual(filtersOf(model), c.want);
        assert.deepEqual(conditionsOf(model), [
          ['Accepted', 'True', 'Accepted'],
          ['ResolvedRefs', 'True', 'ResolvedRefs'],
        ]);
      });
    }

    it('compiles several mirrors in one rule, in order', () => {
      const model = build(
        httpRoute('r', {
          parentRefs: [svcParent('web')],
          rules: [
            {
              filters: [
                { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 8080 } } },
                { type: 'RequestMirror', requestMirror: { backendRef: { name: 'web-v2', port: 80 }, percent: 10 } },
              ],
            },
          ],
        }),
      );
      assert.deepEqual(filtersOf(model), [
        { requestMirror: { backend: shadow } },
        { requestMirror: { backend: { hostname: 'web-v2.shop.svc.cluster.local', port: 80 }, percent: 10 } },
      ]);
    });

    const unresolved: { name: string; ref: object; reason: string; message: RegExp }[] = [
      {
        name: 'a missing Service',
        ref: { name: 'ghost', port: 80 },
        reason: 'BackendNotFound',
        message: /requestMirror\.backendRef: service shop\/ghost not found/,
      },
      {
        name: 'a port the Service does not have',
        ref: { name: 'shadow', port: 80 },
        reason: 'BackendNotFound',
        message: /service shop\/shadow has no port 80/,
      },
      { name: 'no port', ref: { name: 'shadow' }, reason: 'BackendNotFound', message: /needs a port/ },
      {
        name: 'a kind other than Service',
        ref: { group: 'example.com', kind: 'Bucket', name: 'b', port: 80 },
        reason: 'InvalidKind',
        message: /example\.com\/Bucket/,
      },
      { name: 'another namespace', ref: { name: 'shadow', namespace: 'bank', port: 8080 }, reason: 'RefNotPermitted', message: /ReferenceGrant/ },
    ];
    for (const c of unresolved) {
      it(`leaves out a mirror to ${c.name}, keeps the rule, and says ResolvedRefs False ${c.reason}`, () => {
        const model = build(mirror({ backendRef: c.ref }));
        const rule = routesOf(model)[0]!.rules![0]!;
        assert.equal(rule.filters, undefined);
        assert.deepEqual(rule.backends, [{ hostname: 'web.shop.svc.cluster.local', port: 80, weight: 1 }]);
        assert.deepEqual(conditionsOf(model), [
          ['Accepted', 'True', 'Accepted'],
          ['ResolvedRefs', 'False', c.reason],
        ]);
        assert.match(conditionOf(model, 'ResolvedRefs').message, c.message);
      });
    }

    const invalid: { name: string; spec: unknown; message: RegExp }[] = [
      { name: 'no backendRef', spec: {}, message: /requestMirror\.backendRef is required/ },
      { name: 'no requestMirror at all', spec: undefined, message: /requestMirror\.backendRef is required/ },
      { name: 'a percent over 100', spec: { backendRef: { name: 'shadow', port: 8080 }, percent: 101 }, message: /percent 101/ },
      { name: 'a fractional percent', spec: { backendRef: { name: 'shadow', port: 8080 }, percent: 2.5 }, message: /percent 2\.5/ },
      { name: 'both percent and fraction', spec: { backendRef: { name: 'shadow', port: 8080 }, percent: 5, fraction: { numerator: 1 } }, message: /not both/ },
      {
        name: 'a numerator over the denominator',
        spec: { backendRef: { name: 'shadow', port: 8080 }, fraction: { numerator: 3, denominator: 2 } },
        message: /fraction/,
      },
      { name: 'a zero denominator', spec: { backendRef: { name: 'shadow', port: 8080 }, fraction: { numerator: 0, denominator: 0 } }, message: /fraction/ },
    ];
    for (const c of invalid) {
      it(`refuses a mirror with ${c.name} (UnsupportedValue)`, () => {
        const model = build(mirror(c.spec as object));
        assert.deepEqual(routesOf(model), []);
        const accepted = conditionOf(model, 'Accepted');
        assert.deepEqual([accepted.status, accepted.reason], ['False', 'UnsupportedValue']);
        assert.match(accepted.message, c.message);
      });
    }
  });

  describe('RequestRedirect', () => {
    for (const code of [301, 302, 303, 307, 308]) {
      it(`accepts status code ${code}`, () => {
        const model = build(
          httpRoute('r', {
            parentRefs: [svcParent('web')],
            rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: code, scheme: 'https' } }] }],
          }),
        );
        assert.deepEqual(filtersOf(model), [{ requestRedirect: { statusCode: code, scheme: 'https' } }]);
      });
    }

    it('defaults to 302', () => {
      const model = build(
        httpRoute('r', { parentRefs: [svcParent('web')], rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x' } }] }] }),
      );
      assert.deepEqual(filtersOf(model), [{ requestRedirect: { statusCode: 302, hostname: 'x' } }]);
    });

    for (const code of [200, 304, 404, '301']) {
      it(`refuses status code ${JSON.stringify(code)}`, () => {
        const model = build(
          httpRoute('r', { parentRefs: [svcParent('web')], rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: code } }] }] }),
        );
        assert.deepEqual(routesOf(model), []);
        const accepted = conditionOf(model, 'Accepted');
        assert.deepEqual([accepted.status, accepted.reason], ['False', 'UnsupportedValue']);
        assert.match(accepted.message, /statusCode .*expected one of 301, 302, 303, 307, 308/);
      });
    }
  });

  describe('GRPCRoute filters', () => {
    it('compiles header modifiers and a mirror', () => {
      const model = build(
        grpcRoute('g', {
          parentRefs: [svcParent('web')],
          rules: [
            {
              matches: [{ method: { service: 'shop.Cart', method: 'Add' } }],
              filters: [
                { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'X-Via', value: 'wp' }] } },
                { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['Server'] } },
                { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 8080 }, percent: 50 } },
              ],
              backendRefs: [{ name: 'web', port: 80 }],
            },
          ],
        }),
      );
      assert.deepEqual(routesOf(model), [
        {
          name: 'shop/g',
          kind: 'GRPCRoute',
          port: 0,
          rules: [
            {
              matches: [{ grpcService: 'shop.Cart', grpcMethod: 'Add' }],
              backends: [{ hostname: 'web.shop.svc.cluster.local', port: 80, weight: 1 }],
              filters: [
                { requestHeaderModifier: { add: [{ name: 'x-via', value: 'wp' }] } },
                { responseHeaderModifier: { remove: ['server'] } },
                { requestMirror: { backend: { hostname: 'shadow.shop.svc.cluster.local', port: 8080 }, percent: 50 } },
              ],
            },
          ],
        },
      ]);
      assert.deepEqual(conditionsOf(model, 'GRPCRoute'), [
        ['Accepted', 'True', 'Accepted'],
        ['ResolvedRefs', 'True', 'ResolvedRefs'],
      ]);
    });

    for (const type of ['URLRewrite', 'RequestRedirect']) {
      it(`refuses ${type}, which GRPCRoute does not have`, () => {
        const model = build(grpcRoute('g', { parentRefs: [svcParent('web')], rules: [{ filters: [{ type }] }] }));
        const accepted = conditionOf(model, 'Accepted', 'GRPCRoute');
        assert.deepEqual([accepted.status, accepted.reason], ['False', 'UnsupportedValue']);
        assert.match(accepted.message, new RegExp(`"${type}" is not supported in GRPCRoute`));
      });
    }
  });

  describe('status reasons on each parent', () => {
    const cases: { name: string; spec: object; accepted: string[]; resolved: string[]; message: RegExp }[] = [
      {
        name: 'a parent kind that is neither a Service nor a Gateway',
        spec: { parentRefs: [{ group: 'example.com', kind: 'Mesh', name: 'm' }], rules: [{}] },
        accepted: ['False', 'NotAllowedByListeners'],
        resolved: ['True', 'ResolvedRefs'],
        message: /unsupported parentRef kind example\.com\/Mesh/,
      },
      {
        name: 'a Gateway that is not a waypoint',
        spec: { parentRefs: [{ name: 'ingress' }], rules: [{}] },
        accepted: ['False', 'NoMatchingParent'],
        resolved: ['True', 'ResolvedRefs'],
        message: /gateway shop\/ingress not found/,
      },
      {
        name: 'a Gateway listener port that does not exist',
        spec: { parentRefs: [{ name: 'wp', port: 80 }], rules: [{}] },
        accepted: ['False', 'NoMatchingParent'],
        resolved: ['True', 'ResolvedRefs'],
        message: /gateway shop\/wp has no listener on port 80/,
      },
      {
        name: 'a Gateway sectionName that does not exist',
        spec: { parentRefs: [{ name: 'wp', sectionName: 'http' }], rules: [{}] },
        accepted: ['False', 'NoMatchingParent'],
        resolved: ['True', 'ResolvedRefs'],
        message: /gateway shop\/wp has no listener named http/,
      },
      {
        name: 'a Service port that does not exist',
        spec: { parentRefs: [svcParent('web', 9999)], rules: [{}] },
        accepted: ['False', 'NoMatchingParent'],
        resolved: ['True', 'ResolvedRefs'],
        message: /service shop\/web has no port 9999/,
      },
      {
        name: 'a backend that does not exist',
        spec: { parentRefs: [svcParent('web')], rules: [{ backendRefs: [{ name: 'ghost', port: 80 }] }] },
        accepted: ['True', 'Accepted'],
        resolved: ['False', 'BackendNotFound'],
        message: /service shop\/ghost not found/,
      },
      {
        name: 'a backend of an unsupported kind',
        spec: { parentRefs: [svcParent('web')], rules: [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b', port: 1 }] }] },
        accepted: ['True', 'Accepted'],
        resolved: ['False', 'InvalidKind'],
        message: /unsupported backend kind example\.com\/Bucket/,
      },
      {
        name: 'a negative backend weight',
        spec: { parentRefs: [svcParent('web')], rules: [{ backendRefs: [{ name: 'web', port: 80, weight: -1 }] }] },
        accepted: ['False', 'UnsupportedValue'],
        resolved: ['True', 'ResolvedRefs'],
        message: /weight -1/,
      },
      {
        name: 'filters on a backendRef',
        spec: {
          parentRefs: [svcParent('web')],
          rules: [
            {
              backendRefs: [
                { name: 'web', port: 80, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: 'b' }] } }] },
              ],
            },
          ],
        },
        accepted: ['False', 'UnsupportedValue'],
        resolved: ['True', 'ResolvedRefs'],
        message: /backendRefs\[0\]\.filters: filters on a backendRef are not supported/,
      },
      {
        name: 'RequestRedirect and URLRewrite together',
        spec: {
          parentRefs: [svcParent('web')],
          rules: [
            {
              filters: [
                { type: 'RequestRedirect', requestRedirect: {} },
                { type: 'URLRewrite', urlRewrite: {} },
              ],
            },
          ],
        },
        accepted: ['False', 'IncompatibleFilters'],
        resolved: ['True', 'ResolvedRefs'],
        message: /RequestRedirect and URLRewrite cannot be used in the same rule/,
      },
      {
        name: 'a repeated header modifier',
        spec: {
          parentRefs: [svcParent('web')],
          rules: [
            {
              filters: [
                { type: 'RequestHeaderModifier', requestHeaderModifier: {} },
                { type: 'RequestHeaderModifier', requestHeaderModifier: {} },
              ],
            },
          ],
        },
        accepted: ['False', 'IncompatibleFilters'],
        resolved: ['True', 'ResolvedRefs'],
        message: /RequestHeaderModifier may appear at most once/,
      },
      {
        name: 'a redirect beside backendRefs',
        spec: {
          parentRefs: [svcParent('web')],
          rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: {} }], backendRefs: [{ name: 'web', port: 80 }] }],
        },
        accepted: ['False', 'IncompatibleFilters'],
        resolved: ['True', 'ResolvedRefs'],
        message: /RequestRedirect cannot have backendRefs/,
      },
    ];
    for (const c of cases) {
      it(`reports ${c.accepted[1]} / ${c.resolved[1]} for ${c.name}`, () => {
        const model = build(httpRoute('r', c.spec));
        const conditions = model.statuses.find((s) => s.kind === 'HTTPRoute')!.parents![0]!.conditions;
        assert.deepEqual(
          conditions.map((x) => [x.type, x.status, x.reason]),
          [
            ['Accepted', ...c.accepted],
            ['ResolvedRefs', ...c.resolved],
          ],
        );
        assert.match(conditions.map((x) => x.message).join(' | '), c.message);
        for (const x of conditions) assert.equal(x.observedGeneration, 3);
      });
    }

    it('gives each parent its own verdict', () => {
      const model = build(httpRoute('r', { parentRefs: [svcParent('web'), svcParent('web-v2')], rules: [{}] }));
      const parents = model.statuses.find((s) => s.kind === 'HTTPRoute')!.parents!;
      assert.deepEqual(
        parents.map((p) => [p.parentRef.name, p.conditions[0]!.status, p.conditions[0]!.reason]),
        [
          ['web', 'True', 'Accepted'],
          ['web-v2', 'False', 'NoMatchingParent'],
        ],
      );
      assert.equal(routesOf(model).length, 1);
    });

    it('applies a route on the waypoint listener (port 15008, sectionName mesh) to every port of the bound services', () => {
      const model = build(httpRoute('r', { parentRefs: [{ name: 'wp', sectionName: 'mesh', port: 15008 }], rules: [{}] }));
      assert.deepEqual(conditionsOf(model)[0], ['Accepted', 'True', 'Accepted']);
      assert.equal(routesOf(model)[0]!.port, 0);
    });
  });

  describe('an invalid rule', () => {
    const twoRules = (bad: object) =>
      httpRoute('r', {
        parentRefs: [svcParent('web')],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }], backendRefs: [{ name: 'web', port: 80 }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/bad' } }], ...bad },
        ],
      });

    it('is dropped, the other rules stay in force, and PartiallyInvalid says which (Gateway API "Dropped Rule")', () => {
      const model = build(twoRules({ timeouts: { request: 'soon' } }));
      assert.deepEqual(
        routesOf(model).map((r) => r.rules![0]!.matches![0]!.path!.value),
        ['/ok'],
      );
      assert.deepEqual(conditionsOf(model), [
        ['Accepted', 'True', 'Accepted'],
        ['ResolvedRefs', 'True', 'ResolvedRefs'],
        ['PartiallyInvalid', 'True', 'UnsupportedValue'],
      ]);
      assert.match(conditionOf(model, 'PartiallyInvalid').message, /^Dropped Rule 1: spec\.rules\[1\]\.timeouts\.request "soon" is not a duration$/);
    });

    it('does not count its unresolved backends: they are not applied', () => {
      // The backend is resolved before the bad match is found.
      const model = build(twoRules({ backendRefs: [{ name: 'ghost', port: 80 }], matches: [{ method: 'get' }] }));
      assert.equal(routesOf(model).length, 1);
      assert.equal(conditionOf(model, 'ResolvedRefs').status, 'True');
    });

    it('makes the route not Accepted when every rule is invalid, naming each', () => {
      const model = build(
        httpRoute('r', {
          parentRefs: [svcParent('web')],
          rules: [{ timeouts: { request: 'soon' } }, { matches: [{ method: 'get' }] }],
        }),
      );
      assert.deepEqual(routesOf(model), []);
      const accepted = conditionOf(model, 'Accepted');
      assert.deepEqual([accepted.status, accepted.reason], ['False', 'UnsupportedValue']);
      assert.match(accepted.message, /timeouts\.request "soon".*; .*method "get" is not an HTTP method/);
      assert.equal(conditionOf(model, 'PartiallyInvalid'), undefined);
    });

    it('leaves the other routes of the service alone', () => {
      const model = build(
        httpRoute('bad', { parentRefs: [svcParent('web')], rules: [{ filters: [{ type: 'Bogus' }] }] }),
        httpRoute('good', { parentRefs: [svcParent('web')], rules: [{ backendRefs: [{ name: 'web-v2', port: 80 }] }] }),
      );
      assert.deepEqual(
        routesOf(model).map((r) => r.name),
        ['shop/good'],
      );
    });

    it('with null where an object belongs is refused or ignored, never thrown out of the model', () => {
      const model = build(
        httpRoute('r', {
          parentRefs: [svcParent('web')],
          hostnames: [null],
          rules: [null, { matches: [{ path: null }] }, { filters: [null] }, { filters: [{ type: 'RequestRedirect', requestRedirect: { path: null } }] }],
        }),
        grpcRoute('g', { parentRefs: [svcParent('web')], rules: [{ matches: [{ method: null }] }] }),
      );
      assert.ok(routesOf(model).length >= 1);
    });
  });
});
