import assert from 'node:assert/strict';
import { buildMeshModel } from '../../src/model/mesh-model.ts';
import { authorizationPolicy, httpRoute, inputs, namespace, opts, service, waypoint, waypointGateway } from './fixtures.ts';

const svcParent = (name: string, port?: number) => ({ group: '', kind: 'Service', name, ...(port ? { port } : {}) });
const base = () => [namespace('shop'), waypoint('wp'), service('web', { labels: { 'istio.io/use-waypoint': 'wp' } }), service('web-v2', { ip: '10.96.0.21' })];

describe('model: waypoint configuration', () => {
  it('lists the services bound to the waypoint with identity and address', () => {
    const model = buildMeshModel(inputs(...base()), opts);
    const c = model.waypoints.get('shop/wp')!;
    assert.deepEqual(
      [c.name, c.namespace, c.identity, c.waypointFor, c.address?.address],
      ['wp', 'shop', 'spiffe://cluster.local/ns/shop/sa/wp', 'service', '10.96.0.99'],
    );
    assert.deepEqual(
      c.services!.map((s) => s.hostname),
      ['web.shop.svc.cluster.local'],
    );
  });

  describe('routes (HTTPRoute)', () => {
    it('compiles matches, weighted backends, filters, timeouts and retry for a bound Service parent', () => {
      const model = buildMeshModel(
        inputs(
          ...base(),
          httpRoute('canary', {
            parentRefs: [svcParent('web', 80)],
            rules: [
              {
                matches: [
                  {
                    path: { type: 'PathPrefix', value: '/api' },
                    headers: [{ name: 'X-Canary', value: 'yes' }],
                    queryParams: [{ type: 'RegularExpression', name: 'q', value: '^a+$' }],
                    method: 'GET',
                  },
                ],
                backendRefs: [
                  { name: 'web', port: 80, weight: 90 },
                  { name: 'web-v2', port: 80, weight: 10 },
                ],
                filters: [
                  { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Route', value: 'canary' }], remove: ['X-Debug'] } },
                  { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
                ],
                timeouts: { request: '10s', backendRequest: '1h30m' },
                retry: { attempts: 3, backoff: '100ms', codes: [503] },
              },
            ],
          }),
        ),
        opts,
      );
      const routes = model.waypoints.get('shop/wp')!.services![0]!.routes!;
      assert.deepEqual(routes, [
        {
          name: 'shop/canary',
          kind: 'HTTPRoute',
          port: 80,
          rules: [
            {
              matches: [
                {
                  path: { type: 'PATH_PREFIX', value: '/api' },
                  headers: [{ name: 'x-canary', type: 'VALUE_EXACT', value: 'yes' }],
                  queryParams: [{ name: 'q', type: 'VALUE_REGULAR_EXPRESSION', value: '^a+$' }],
                  method: 'GET',
                },
              ],
              backends: [
                { hostname: 'web.shop.svc.cluster.local', port: 80, weight: 90 },
                { hostname: 'web-v2.shop.svc.cluster.local', port: 80, weight: 10 },
              ],
              filters: [
                { requestHeaderModifier: { set: [{ name: 'x-route', value: 'canary' }], remove: ['x-debug'] } },
                { urlRewrite: { path: { type: 'REPLACE_PREFIX_MATCH', value: '/v2' } } },
              ],
              timeouts: { requestMs: 10_000, backendRequestMs: 5_400_000 },
              retry: { attempts: 3, backoffMs: 100, codes: [503] },
            },
          ],
        },
      ]);
      const status = model.statuses.find((s) => s.kind === 'HTTPRoute')!;
      assert.deepEqual(status.parents, [
        {
          parentRef: svcParent('web', 80),
          controllerName: 'istio.io/gateway-controller',
          conditions: [
            { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'route accepted', observedGeneration: 3 },
            { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'all references resolved', observedGeneration: 3 },
          ],
        },
      ]);
    });

    it('orders rules across routes by Gateway API precedence', () => {
      const model = buildMeshModel(
        inputs(
          ...base(),
          httpRoute('old-catchall', { parentRefs: [svcParent('web')], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] }, 'shop', '2024-01-01T00:00:00Z'),
          httpRoute(
            'new-specific',
            {
              parentRefs: [svcParent('web')],
              rules: [
                { matches: [{ path: { type: 'PathPrefix', value: '/a' } }] },
                { matches: [{ path: { type: 'Exact', value: '/a' } }] },
                {
                  matches: [
                    { path: { type: 'PathPrefix', value: '/a/b' } },
                    { path: { type: 'PathPrefix', value: '/a' }, headers: [{ name: 'x', value: '1' }] },
                  ],
                },
              ],
            },
            'shop',
            '2025-01-01T00:00:00Z',
          ),
        ),
        opts,
      );
      const order = model.waypoints
        .get('shop/wp')!
        .services![0]!.routes!.map(
          (r) =>
            `${r.name} ${r.rules![0]!.matches![0]?.path?.type ?? '-'} ${r.rules![0]!.matches![0]?.path?.value ?? '/'}${r.rules![0]!.matches![0]?.headers ? ' +h' : ''}`,
        );
      assert.deepEqual(order, [
        'shop/new-specific EXACT /a',
        'shop/new-specific PATH_PREFIX /a/b',
        'shop/new-specific PATH_PREFIX /a +h',
        'shop/new-specific PATH_PREFIX /a',
        'shop/old-catchall - /',
      ]);
    });

    it('attaches a Gateway-parented route to every bound service and counts it on the listener', () => {
      const model = buildMeshModel(inputs(...base(), httpRoute('all', { parentRefs: [{ name: 'wp' }], rules: [{}] })), opts);
      assert.equal(model.waypoints.get('shop/wp')!.services![0]!.routes!.length, 1);
      const gw = model.statuses.find((s) => s.kind === 'Gateway' && s.name === 'wp')!;
      assert.equal(gw.gateway!.listeners[0]!.attachedRoutes, 1);
    });

    const bad: { name: string; spec: any; cond: string; reason: string; message: RegExp }[] = [
      {
        name: 'a Service parent that is not bound to a waypoint',
        spec: { parentRefs: [svcParent('web-v2')], rules: [{}] },
        cond: 'Accepted',
        reason: 'NoMatchingParent',
        message: /service shop\/web-v2 is not bound to a waypoint/,
      },
      {
        name: 'a missing parent',
        spec: { parentRefs: [svcParent('ghost')], rules: [{}] },
        cond: 'Accepted',
        reason: 'NoMatchingParent',
        message: /service shop\/ghost not found/,
      },
      {
        name: 'an unsupported filter',
        spec: { parentRefs: [svcParent('web')], rules: [{ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'x', kind: 'Y', name: 'z' } }] }] },
        cond: 'Accepted',
        reason: 'UnsupportedValue',
        message: /ExtensionRef/,
      },
      {
        name: 'a bad regular expression',
        spec: { parentRefs: [svcParent('web')], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '(' } }] }] },
        cond: 'Accepted',
        reason: 'UnsupportedValue',
        message: /not a valid regular expression/,
      },
      {
        name: 'a bad timeout',
        spec: { parentRefs: [svcParent('web')], rules: [{ timeouts: { request: 'soon' } }] },
        cond: 'Accepted',
        reason: 'UnsupportedValue',
        message: /timeouts.request "soon" is not a duration/,
      },
    ];
    for (const c of bad) {
      it(`rejects ${c.name} with a reason and leaves it out`, () => {
        const model = buildMeshModel(inputs(...base(), httpRoute('r', c.spec)), opts);
        assert.deepEqual(model.waypoints.get('shop/wp')!.services![0]!.routes, []);
        const cond = model.statuses.find((s) => s.kind === 'HTTPRoute')!.parents![0]!.conditions.find((x) => x.type === c.cond)!;
        assert.deepEqual([cond.status, cond.reason], ['False', c.reason]);
        assert.match(cond.message, c.message);
      });
    }

    it('answers 500 for a rule whose backends do not resolve and says why', () => {
      const model = buildMeshModel(
        inputs(...base(), httpRoute('r', { parentRefs: [svcParent('web')], rules: [{ backendRefs: [{ name: 'ghost', port: 80 }] }] })),
        opts,
      );
      assert.equal(model.waypoints.get('shop/wp')!.services![0]!.routes![0]!.rules![0]!.directResponseStatus, 500);
      const rr = model.statuses.find((s) => s.kind === 'HTTPRoute')!.parents![0]!.conditions[1]!;
      assert.deepEqual([rr.type, rr.status, rr.reason], ['ResolvedRefs', 'False', 'BackendNotFound']);
    });
  });

  it('attaches DestinationRule traffic policy to the bound service', () => {
    const dr = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        host: 'web',
        trafficPolicy: {
          connectionPool: { tcp: { maxConnections: 10, connectTimeout: '30ms' }, http: { http1MaxPendingRequests: 5, maxRetries: 2 } },
          outlierDetection: { consecutive5xxErrors: 3, interval: '5s', baseEjectionTime: '1m', maxEjectionPercent: 50 },
          loadBalancer: { simple: 'LEAST_CONN' },
        },
      },
    };
    const model = buildMeshModel(inputs(...base(), dr), opts);
    assert.deepEqual(model.waypoints.get('shop/wp')!.services![0]!.trafficPolicy, {
      name: 'shop/web',
      connectionPool: { maxConnections: 10, connectTimeoutMs: 30, http1MaxPendingRequests: 5, maxRetries: 2 },
      outlierDetection: { consecutive_5xxErrors: 3, intervalMs: 5000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
      loadBalancer: 'LEAST_REQUEST',
    });
  });

  describe('L7 authorization (targetRefs)', () => {
    it('attaches a policy targeting the waypoint Gateway or a bound Service, with HTTP rules', () => {
      const model = buildMeshModel(
        inputs(
          ...base(),
          authorizationPolicy('gw', {
            targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'wp' }],
            action: 'DENY',
            rules: [{ to: [{ operation: { methods: ['DELETE'], paths: ['/admin/*'] } }], when: [{ key: 'request.headers[X-User]', values: ['eve'] }] }],
          }),
          authorizationPolicy('svc', {
            targetRefs: [{ kind: 'Service', group: '', name: 'web' }],
            rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/front'] } }] }],
          }),
        ),
        opts,
      );
      assert.deepEqual(model.waypoints.get('shop/wp')!.authorizations, [
        {
          name: 'gw',
          namespace: 'shop',
          action: 'DENY',
          targets: ['gateway'],
          rules: [
            {
              clauses: [
                { matches: [{ methods: [{ exact: 'DELETE' }], paths: [{ prefix: '/admin/' }] }] },
                { matches: [{ headers: [{ name: 'x-user', values: [{ exact: 'eve' }] }] }] },
              ],
            },
          ],
        },
        {
          name: 'svc',
          namespace: 'shop',
          action: 'ALLOW',
          targets: ['web.shop.svc.cluster.local'],
          rules: [{ clauses: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/shop/sa/front' }] }] }] }],
        },
      ]);
      const conds = model.statuses
        .filter((s) => s.kind === 'AuthorizationPolicy')
        .map((s) => [s.name, s.conditions[0]!.type, s.conditions[0]!.status, s.conditions[0]!.reason]);
      assert.deepEqual(conds, [
        ['gw', 'WaypointAccepted', 'True', 'Accepted'],
        ['svc', 'WaypointAccepted', 'True', 'Accepted'],
      ]);
    });

    // Regression: an L7 policy with an invalid value was left out, so a DENY stopped denying and
    // an ALLOW-only service became allow-all. As in Istio (and ztunnel's L4 compile), it fails closed.
    const invalid = [
      {
        name: 'an invalid DENY',
        spec: { action: 'DENY', rules: [{ to: [{ operation: { methods: 'GET' } }] }] },
        action: 'DENY',
        rules: [{ clauses: [] }],
        enforced: 'deny-all',
      },
      {
        name: 'an invalid ALLOW',
        spec: { action: 'ALLOW', rules: [{ when: [{ key: 'request.bogus', values: ['x'] }] }] },
        action: 'ALLOW',
        rules: [],
        enforced: 'allow-nothing',
      },
      {
        name: 'a CUSTOM policy (no external authorizer)',
        spec: { action: 'CUSTOM', provider: { name: 'ext' }, rules: [{}] },
        action: 'DENY',
        rules: [{ clauses: [] }],
        enforced: 'deny-all',
      },
      { name: 'an unknown action', spec: { action: 'REJECT' }, action: 'DENY', rules: [{ clauses: [] }], enforced: 'deny-all' },
    ];
    for (const c of invalid) {
      it(`fails closed on ${c.name}: enforced as ${c.enforced}, with a condition saying why`, () => {
        const model = buildMeshModel(
          inputs(...base(), authorizationPolicy('p', { targetRefs: [{ kind: 'Service', group: '', name: 'web' }], ...c.spec })),
          opts,
        );
        assert.deepEqual(model.waypoints.get('shop/wp')!.authorizations, [
          { name: 'p', namespace: 'shop', action: c.action, targets: ['web.shop.svc.cluster.local'], rules: c.rules },
        ]);
        const cond = model.statuses.find((s) => s.kind === 'AuthorizationPolicy')!.conditions[0]!;
        assert.deepEqual([cond.type, cond.status, cond.reason], ['WaypointAccepted', 'False', 'Invalid']);
        assert.match(cond.message ?? '', new RegExp(`enforced as ${c.enforced}`));
      });
    }

    it('gives AUDIT no effect on traffic and says so', () => {
      const model = buildMeshModel(
        inputs(...base(), authorizationPolicy('p', { targetRefs: [{ kind: 'Service', group: '', name: 'web' }], action: 'AUDIT' })),
        opts,
      );
      assert.deepEqual(model.waypoints.get('shop/wp')!.authorizations, []);
      const cond = model.statuses.find((s) => s.kind === 'AuthorizationPolicy')!.conditions[0]!;
      assert.deepEqual([cond.status, cond.reason], ['False', 'UnsupportedValue']);
    });

    const targets = [
      { name: 'a missing Gateway', ref: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'ghost' }, reason: 'TargetNotFound' },
      { name: 'a Service not bound to a waypoint', ref: { kind: 'Service', group: '', name: 'web-v2' }, reason: 'AncestorNotBound' },
      { name: 'a missing Service', ref: { kind: 'Service', group: '', name: 'ghost' }, reason: 'TargetNotFound' },
    ];
    for (const c of targets) {
      it(`reports WaypointAccepted False for ${c.name}`, () => {
        const model = buildMeshModel(inputs(...base(), authorizationPolicy('p', { targetRefs: [c.ref] })), opts);
        const cond = model.statuses.find((s) => s.kind === 'AuthorizationPolicy')!.conditions[0]!;
        assert.deepEqual([cond.type, cond.status, cond.reason], ['WaypointAccepted', 'False', c.reason]);
        assert.deepEqual(model.waypoints.get('shop/wp')!.authorizations, []);
      });
    }
  });

  describe('Gateway status', () => {
    it('is Accepted and Programmed with the Service address', () => {
      const s = buildMeshModel(inputs(...base()), opts).statuses.find((x) => x.kind === 'Gateway' && x.name === 'wp')!;
      assert.deepEqual(
        s.conditions.map((c) => [c.type, c.status, c.reason]),
        [
          ['Accepted', 'True', 'Accepted'],
          ['Programmed', 'True', 'Programmed'],
        ],
      );
      assert.deepEqual(s.gateway!.addresses, [{ type: 'IPAddress', value: '10.96.0.99' }]);
      assert.deepEqual(
        s.gateway!.listeners[0]!.conditions.map((c) => [c.type, c.status]),
        [
          ['Accepted', 'True'],
          ['ResolvedRefs', 'True'],
          ['Programmed', 'True'],
        ],
      );
    });

    it('is Pending until its Service has a ClusterIP', () => {
      const s = buildMeshModel(inputs(waypointGateway('wp')), opts).statuses.find((x) => x.kind === 'Gateway')!;
      assert.deepEqual(s.conditions[1], {
        type: 'Programmed',
        status: 'False',
        reason: 'Pending',
        message: 'waiting for Service shop/wp to get a ClusterIP',
        observedGeneration: 1,
      });
      assert.deepEqual(s.gateway!.addresses, []);
    });

    it('is not Accepted without an HBONE 15008 listener, and produces no config', () => {
      const model = buildMeshModel(inputs(waypointGateway('wp', { listener: { name: 'http', port: 80, protocol: 'HTTP' } })), opts);
      const s = model.statuses.find((x) => x.kind === 'Gateway')!;
      assert.deepEqual([s.conditions[0]!.status, s.conditions[0]!.reason], ['False', 'ListenersNotValid']);
      assert.equal(s.gateway!.listeners[0]!.conditions[0]!.reason, 'UnsupportedProtocol');
      assert.equal(model.waypoints.size, 0);
    });
  });
});
