import assert from 'node:assert/strict';
import { seededRandom } from '@ambient/api/testing';
import type { BackendRef, Filter, RequestRedirect, Route, RouteMatch, RouteRule, ServiceConfig } from '@ambient/api';
import type { RequestFacts } from '../../src/http/request-facts.ts';
import {
  compileRoutes,
  type ForwardDecision,
  randomPick,
  type RouteDecision,
  selectRoute,
  type WeightedPicker,
  weightedPick,
} from '../../src/route/select-route.ts';

// One service, reviews.shop on port 9080; each route sends matched traffic to a backend named after
// it, so an outcome reads as the backend's short name, or the status of an answer.
const domain = 'shop.svc.cluster.local';
const host = (name: string): string => `${name}.${domain}`;

function service(routes: Route[] | undefined): ServiceConfig {
  const s: ServiceConfig = { name: 'reviews', namespace: 'shop', hostname: host('reviews'), addresses: ['10.96.0.20'], ports: [{ servicePort: 9080 }] };
  if (routes !== undefined) s.routes = routes;
  return s;
}

function request(r: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'GET', path: '/', authority: 'reviews:9080', headers: {}, port: 9080, ...r };
}

/** An HTTPRoute "shop/<to>" with one rule: `match` (none when undefined) → backend <to>:9080. */
function http(to: string, match: RouteMatch | undefined, rule: RouteRule = {}, port?: number): Route {
  const route: Route = {
    name: `shop/${to}`,
    kind: 'HTTPRoute',
    rules: [{ matches: match ? [match] : [], backends: [{ hostname: host(to), port: 9080 }], ...rule }],
  };
  if (port !== undefined) route.port = port;
  return route;
}

function grpc(to: string, match: RouteMatch | undefined): Route {
  return { name: `shop/${to}`, kind: 'GRPCRoute', rules: [{ matches: match ? [match] : [], backends: [{ hostname: host(to), port: 9080 }] }] };
}

const noPick: WeightedPicker = (weights) => assert.fail(`the picker should not be called (weights ${weights.join(',')})`);

/** "<backend short name>:<port>" for a forward, "<kind> <status>" otherwise. */
function outcome(d: RouteDecision): string {
  if (d.kind === 'forward') return `${d.backend.hostname.replace(`.${domain}`, '')}:${d.backend.port}`;
  return `${d.kind} ${d.status}`;
}

function select(routes: Route[] | undefined, r: Partial<RequestFacts> = {}, pick: WeightedPicker = noPick): RouteDecision {
  return selectRoute(service(routes), request(r), pick);
}

function forward(d: RouteDecision): ForwardDecision {
  if (d.kind !== 'forward') assert.fail(`expected a forward, got ${outcome(d)}`);
  return d;
}

function redirectOf(d: RouteDecision): { status: number; location: string } {
  if (d.kind !== 'redirect') assert.fail(`expected a redirect, got ${outcome(d)}`);
  return { status: d.status, location: d.location };
}

// Gateway API's ReplacePrefixMatch table (HTTPPathModifier), plus the prefix "/" and query cases.
// [matched prefix, replacement, request path, result]
const prefixRewrites: [string, string, string, string][] = [
  ['/foo', '/xyz', '/foo/bar', '/xyz/bar'],
  ['/foo', '/xyz/', '/foo/bar', '/xyz/bar'],
  ['/foo/', '/xyz', '/foo/bar', '/xyz/bar'],
  ['/foo/', '/xyz/', '/foo/bar', '/xyz/bar'],
  ['/foo', '/xyz', '/foo', '/xyz'],
  ['/foo', '/xyz', '/foo/', '/xyz/'],
  ['/foo', '', '/foo/bar', '/bar'],
  ['/foo', '', '/foo/', '/'],
  ['/foo', '', '/foo', '/'],
  ['/foo', '/', '/foo/bar', '/bar'],
  ['/foo', '/', '/foo/', '/'],
  ['/foo', '/', '/foo', '/'],
  ['/foo/bar', '/baz', '/foo/bar/qux', '/baz/qux'],
  ['/', '/xyz', '/a/b', '/xyz/a/b'],
  ['/foo', '/xyz', '/foo/bar?q=1&r=2', '/xyz/bar?q=1&r=2'],
];

describe('selectRoute', () => {
  describe('path matches', () => {
    const cases: [string, RouteMatch['path'], string, boolean][] = [
      ['prefix /foo matches /foo', { type: 'PATH_PREFIX', value: '/foo' }, '/foo', true],
      ['prefix /foo matches /foo/', { type: 'PATH_PREFIX', value: '/foo' }, '/foo/', true],
      ['prefix /foo matches /foo/bar', { type: 'PATH_PREFIX', value: '/foo' }, '/foo/bar', true],
      ['prefix /foo does not match /foobar (element-wise)', { type: 'PATH_PREFIX', value: '/foo' }, '/foobar', false],
      ['prefix /foo does not match /fo', { type: 'PATH_PREFIX', value: '/foo' }, '/fo', false],
      ['prefix /foo does not match /Foo (case-sensitive)', { type: 'PATH_PREFIX', value: '/foo' }, '/Foo', false],
      ['prefix /foo ignores the query string', { type: 'PATH_PREFIX', value: '/foo' }, '/foo?bar=/baz', true],
      ['prefix /foo does not match /?x=/foo', { type: 'PATH_PREFIX', value: '/foo' }, '/?x=/foo', false],
      ['prefix /foo/ (trailing slash ignored) matches /foo', { type: 'PATH_PREFIX', value: '/foo/' }, '/foo', true],
      ['prefix /foo/ matches /foo/bar', { type: 'PATH_PREFIX', value: '/foo/' }, '/foo/bar', true],
      ['prefix /foo/ does not match /foobar', { type: 'PATH_PREFIX', value: '/foo/' }, '/foobar', false],
      ['prefix / matches every path', { type: 'PATH_PREFIX', value: '/' }, '/anything/at/all', true],
      ['prefix / matches /', { type: 'PATH_PREFIX', value: '/' }, '/', true],
      ['type absent means prefix', { value: '/foo' }, '/foo/bar', true],
      ['value absent means /', { type: 'PATH_PREFIX' }, '/x', true],
      ['exact /foo matches /foo', { type: 'EXACT', value: '/foo' }, '/foo', true],
      ['exact /foo matches /foo?x=1 (query ignored)', { type: 'EXACT', value: '/foo' }, '/foo?x=1', true],
      ['exact /foo does not match /foo/', { type: 'EXACT', value: '/foo' }, '/foo/', false],
      ['exact /foo does not match /foo/bar', { type: 'EXACT', value: '/foo' }, '/foo/bar', false],
      ['regex matches the whole path', { type: 'REGULAR_EXPRESSION', value: '/foo/[0-9]+' }, '/foo/12', true],
      ['regex is anchored at the end', { type: 'REGULAR_EXPRESSION', value: '/foo/[0-9]+' }, '/foo/12/x', false],
      ['regex is anchored at the start', { type: 'REGULAR_EXPRESSION', value: '/foo/[0-9]+' }, '/x/foo/12', false],
      ['regex ignores the query string', { type: 'REGULAR_EXPRESSION', value: '/foo/[0-9]+' }, '/foo/12?a=b', true],
      ['regex alternation stays anchored as a whole (/a|/b vs /b)', { type: 'REGULAR_EXPRESSION', value: '/a|/b' }, '/b', true],
      ['regex alternation stays anchored as a whole (/a|/b vs /a/x)', { type: 'REGULAR_EXPRESSION', value: '/a|/b' }, '/a/x', false],
      ['regex alternation stays anchored as a whole (/a|/b vs /x/b)', { type: 'REGULAR_EXPRESSION', value: '/a|/b' }, '/x/b', false],
      ['a regex that does not compile matches nothing', { type: 'REGULAR_EXPRESSION', value: '(' }, '/(', false],
    ];
    for (const [name, path, reqPath, matches] of cases) {
      it(name, () => {
        assert.equal(outcome(select([http('matched', { path })], { path: reqPath })), matches ? 'matched:9080' : 'no-route 404');
      });
    }
  });

  describe('header matches', () => {
    const cases: [string, RouteMatch['headers'], RequestFacts['headers'], boolean][] = [
      ['exact value', [{ name: 'x-user', value: 'jason' }], { 'x-user': 'jason' }, true],
      ['exact value is case-sensitive', [{ name: 'x-user', value: 'jason' }], { 'x-user': 'Jason' }, false],
      ['exact value must be whole', [{ name: 'x-user', value: 'jason' }], { 'x-user': 'jason2' }, false],
      ['a missing header does not match', [{ name: 'x-user', value: 'jason' }], {}, false],
      ['an empty value matches an empty header', [{ name: 'x-user', value: '' }], { 'x-user': '' }, true],
      ['names are case-insensitive', [{ name: 'X-User', value: 'jason' }], { 'x-user': 'jason' }, true],
      ['a repeated header matches as its lines joined with ","', [{ name: 'x-user', value: 'a,jason' }], { 'x-user': ['a', 'jason'] }, true],
      ['a repeated header does not match one of its lines alone', [{ name: 'x-user', value: 'jason' }], { 'x-user': ['jason', 'b'] }, false],
      ['regex', [{ name: 'x-user', type: 'VALUE_REGULAR_EXPRESSION', value: 'ja.*' }], { 'x-user': 'jason' }, true],
      ['regex is anchored', [{ name: 'x-user', type: 'VALUE_REGULAR_EXPRESSION', value: 'ja.*' }], { 'x-user': 'xjason' }, false],
      ['regex over a repeated header', [{ name: 'x-v', type: 'VALUE_REGULAR_EXPRESSION', value: 'a,b' }], { 'x-v': ['a', 'b'] }, true],
      ['regex .* does not match a missing header', [{ name: 'x-user', type: 'VALUE_REGULAR_EXPRESSION', value: '.*' }], {}, false],
      [
        'every header must match (AND)',
        [
          { name: 'x-a', value: '1' },
          { name: 'x-b', value: '2' },
        ],
        { 'x-a': '1', 'x-b': '3' },
        false,
      ],
      [
        'every header matching',
        [
          { name: 'x-a', value: '1' },
          { name: 'x-b', value: '2' },
        ],
        { 'x-a': '1', 'x-b': '2' },
        true,
      ],
      [
        'of two entries for one header only the first counts (Gateway API)',
        [
          { name: 'x-a', value: '1' },
          { name: 'X-A', value: '2' },
        ],
        { 'x-a': '1' },
        true,
      ],
    ];
    for (const [name, headers, reqHeaders, matches] of cases) {
      it(name, () => {
        assert.equal(outcome(select([http('matched', { headers })], { headers: reqHeaders })), matches ? 'matched:9080' : 'no-route 404');
      });
    }
  });

  describe('query parameter matches', () => {
    const cases: [string, RouteMatch['queryParams'], string, boolean][] = [
      ['exact value', [{ name: 'q', value: '1' }], '/?q=1', true],
      ['another value', [{ name: 'q', value: '1' }], '/?q=2', false],
      ['missing parameter', [{ name: 'q', value: '1' }], '/', false],
      ['missing parameter among others', [{ name: 'q', value: '1' }], '/p?r=1', false],
      ['a repeated parameter matches on its first value', [{ name: 'q', value: '1' }], '/?q=1&q=2', true],
      ['a repeated parameter does not match on a later value', [{ name: 'q', value: '1' }], '/?q=2&q=1', false],
      ['names are case-sensitive', [{ name: 'q', value: '1' }], '/?Q=1', false],
      ['values are percent-decoded', [{ name: 'q', value: 'a b/c' }], '/?q=a%20b%2Fc', true],
      ['regex', [{ name: 'version', type: 'VALUE_REGULAR_EXPRESSION', value: 'v[0-9]' }], '/x?version=v2', true],
      ['regex is anchored', [{ name: 'version', type: 'VALUE_REGULAR_EXPRESSION', value: 'v[0-9]' }], '/x?version=v22', false],
      [
        'every parameter must match (AND)',
        [
          { name: 'a', value: '1' },
          { name: 'b', value: '2' },
        ],
        '/?b=2&a=1',
        true,
      ],
      [
        'every parameter must match (one off)',
        [
          { name: 'a', value: '1' },
          { name: 'b', value: '2' },
        ],
        '/?b=2&a=0',
        false,
      ],
    ];
    for (const [name, queryParams, path, matches] of cases) {
      it(name, () => {
        assert.equal(outcome(select([http('matched', { queryParams })], { path })), matches ? 'matched:9080' : 'no-route 404');
      });
    }
  });

  describe('method and combined matches', () => {
    const all: RouteMatch = {
      path: { type: 'PATH_PREFIX', value: '/api' },
      headers: [{ name: 'x-user', value: 'jason' }],
      queryParams: [{ name: 'debug', value: '1' }],
      method: 'POST',
    };
    const ok: Partial<RequestFacts> = { method: 'POST', path: '/api/x?debug=1', headers: { 'x-user': 'jason' } };
    const cases: [string, RouteMatch, Partial<RequestFacts>, boolean][] = [
      ['method matches', { method: 'POST' }, { method: 'POST' }, true],
      ['method differs', { method: 'POST' }, { method: 'GET' }, false],
      ['path, header, query and method all matching', all, ok, true],
      ['all but the path', all, { ...ok, path: '/web?debug=1' }, false],
      ['all but the header', all, { ...ok, headers: { 'x-user': 'mike' } }, false],
      ['all but the query', all, { ...ok, path: '/api/x?debug=0' }, false],
      ['all but the method', all, { ...ok, method: 'PUT' }, false],
      ['an empty match matches everything', {}, { method: 'DELETE', path: '/whatever?x=1' }, true],
    ];
    for (const [name, match, r, matches] of cases) {
      it(name, () => {
        assert.equal(outcome(select([http('matched', match)], r)), matches ? 'matched:9080' : 'no-route 404');
      });
    }

    it('a rule with several matches matches when any does (OR)', () => {
      const route: Route = {
        name: 'shop/either',
        kind: 'HTTPRoute',
        rules: [{ matches: [{ path: { type: 'EXACT', value: '/a' } }, { method: 'PUT' }], backends: [{ hostname: host('either'), port: 9080 }] }],
      };
      assert.equal(outcome(select([route], { path: '/a' })), 'either:9080');
      assert.equal(outcome(select([route], { path: '/b', method: 'PUT' })), 'either:9080');
      assert.equal(outcome(select([route], { path: '/b' })), 'no-route 404');
    });

    it('a rule without matches matches every request', () => {
      assert.equal(outcome(select([http('all', undefined)], { method: 'PATCH', path: '/x/y?z=1', headers: { a: 'b' } })), 'all:9080');
    });
  });

  describe('port scoping', () => {
    it('a route for port 9080 governs requests to 9080', () => {
      assert.equal(outcome(select([http('v2', undefined, {}, 9080)], { port: 9080 })), 'v2:9080');
    });
    it('a route for port 9080 leaves other ports to the default route', () => {
      assert.equal(outcome(select([http('v2', undefined, {}, 9080)], { port: 9090 })), 'reviews:9090');
    });
    it('a route without a port governs every port', () => {
      assert.equal(outcome(select([http('v2', undefined)], { port: 7000 })), 'v2:9080');
    });
    it('a route with port 0 governs every port', () => {
      assert.equal(outcome(select([http('v2', undefined, {}, 0)], { port: 7000 })), 'v2:9080');
    });
    it('routes for the port that do not match answer 404; on another port the default route applies', () => {
      const routes = [http('v2', { path: { type: 'EXACT', value: '/only' } }, {}, 9080)];
      assert.equal(outcome(select(routes, { port: 9080, path: '/other' })), 'no-route 404');
      assert.equal(outcome(select(routes, { port: 9090, path: '/other' })), 'reviews:9090');
    });
    it('a port-scoped route does not shadow a later route for every port on other ports', () => {
      const routes = [http('on-9080', undefined, {}, 9080), http('anywhere', undefined)];
      assert.equal(outcome(select(routes, { port: 9080 })), 'on-9080:9080');
      assert.equal(outcome(select(routes, { port: 9090 })), 'anywhere:9080');
    });
  });

  describe('GRPCRoute and HTTPRoute', () => {
    const call = (service: string, method: string): Partial<RequestFacts> => ({
      method: 'POST',
      path: `/${service}/${method}`,
      headers: { 'content-type': 'application/grpc' },
      grpc: { service, method },
    });
    const cases: [string, RouteMatch | undefined, Partial<RequestFacts>, string][] = [
      ['service and method match', { grpcService: 'shop.Reviews', grpcMethod: 'Get' }, call('shop.Reviews', 'Get'), 'grpc:9080'],
      ['another method', { grpcService: 'shop.Reviews', grpcMethod: 'Get' }, call('shop.Reviews', 'List'), 'no-route 404'],
      ['another service', { grpcService: 'shop.Reviews', grpcMethod: 'Get' }, call('shop.Ratings', 'Get'), 'no-route 404'],
      ['service only: any of its methods', { grpcService: 'shop.Reviews' }, call('shop.Reviews', 'List'), 'grpc:9080'],
      ['method only: that method of any service', { grpcMethod: 'Get' }, call('shop.Ratings', 'Get'), 'grpc:9080'],
      ['service names are exact', { grpcService: 'shop.Reviews' }, call('shop.ReviewsV2', 'Get'), 'no-route 404'],
      [
        'headers of a gRPC call',
        { headers: [{ name: 'x-canary', value: 'yes' }] },
        { ...call('shop.Reviews', 'Get'), headers: { 'x-canary': 'yes' } },
        'grpc:9080',
      ],
      ['headers of a gRPC call, not matching', { headers: [{ name: 'x-canary', value: 'yes' }] }, call('shop.Reviews', 'Get'), 'no-route 404'],
      ['no matches: every gRPC call', undefined, call('any.Service', 'Any'), 'grpc:9080'],
      ['no matches: not a plain HTTP request (404, the route still governs the port)', undefined, { path: '/shop.Reviews/Get' }, 'no-route 404'],
      ['a method match never matches a plain HTTP request', { grpcMethod: 'Get' }, { path: '/shop.Reviews/Get' }, 'no-route 404'],
    ];
    for (const [name, match, r, expected] of cases) {
      it(`GRPCRoute: ${name}`, () => {
        assert.equal(outcome(select([grpc('grpc', match)], r)), expected);
      });
    }

    it('an HTTPRoute also governs gRPC calls (they are HTTP requests)', () => {
      const routes = [http('by-path', { path: { type: 'PATH_PREFIX', value: '/shop.Reviews' } })];
      assert.equal(outcome(select(routes, call('shop.Reviews', 'Get'))), 'by-path:9080');
    });

    it('a plain HTTP request skips GRPCRoutes and reaches a later HTTPRoute', () => {
      const routes = [grpc('grpc', undefined), http('web', undefined)];
      assert.equal(outcome(select(routes, { path: '/index.html' })), 'web:9080');
      assert.equal(outcome(select(routes, call('shop.Reviews', 'Get'))), 'grpc:9080');
    });
  });

  describe('first match wins', () => {
    it('takes the first matching entry in the order istiod-lite sorted them, not the most specific', () => {
      const routes = [http('broad', { path: { type: 'PATH_PREFIX', value: '/' } }), http('narrow', { path: { type: 'EXACT', value: '/a' } })];
      assert.equal(outcome(select(routes, { path: '/a' })), 'broad:9080');
    });
    it('skips entries that do not match', () => {
      const routes = [
        http('a', { path: { type: 'PATH_PREFIX', value: '/a' } }),
        http('b', { path: { type: 'PATH_PREFIX', value: '/b' } }),
        http('rest', undefined),
      ];
      assert.equal(outcome(select(routes, { path: '/b/1' })), 'b:9080');
      assert.equal(outcome(select(routes, { path: '/c' })), 'rest:9080');
    });
    it('reports the route and the index of the rule that matched', () => {
      const route: Route = {
        name: 'shop/two-rules',
        kind: 'HTTPRoute',
        rules: [
          { matches: [{ path: { type: 'EXACT', value: '/first' } }], backends: [{ hostname: host('first'), port: 9080 }] },
          { matches: [], backends: [{ hostname: host('second'), port: 9080 }] },
        ],
      };
      const first = forward(select([route], { path: '/first' }));
      const second = forward(select([route], { path: '/other' }));
      assert.deepEqual([first.route, first.rule, outcome(first)], ['shop/two-rules', 0, 'first:9080']);
      assert.deepEqual([second.route, second.rule, outcome(second)], ['shop/two-rules', 1, 'second:9080']);
    });
  });

  describe('default route and no route', () => {
    for (const [name, routes] of [
      ['no routes field', undefined],
      ['an empty route list', []],
    ] as const) {
      it(`${name}: forwards to the service itself on the port addressed, unchanged`, () => {
        const d = select(routes === undefined ? undefined : [...routes], { path: '/a/b?c=1', port: 9080 });
        assert.deepEqual(d, {
          kind: 'forward',
          route: '',
          rule: -1,
          backend: { hostname: host('reviews'), port: 9080 },
          path: '/a/b?c=1',
          requestHeaders: [],
          responseHeaders: [],
          mirrors: [],
        });
      });
    }
    it('routes that apply but do not match answer 404 (Gateway API; Envoy flag NR)', () => {
      assert.deepEqual(select([http('v2', { path: { type: 'EXACT', value: '/v2' } })], { path: '/v1' }), { kind: 'no-route', status: 404 });
    });
  });

  describe('backends and weights', () => {
    const weighted = (backends: BackendRef[]): Route[] => [{ name: 'shop/split', kind: 'HTTPRoute', rules: [{ backends }] }];

    it('a backend with a port is reached on that port', () => {
      assert.equal(outcome(select(weighted([{ hostname: host('v2'), port: 8080 }]), { port: 9080 })), 'v2:8080');
    });
    it('a backend without a port is reached on the port the client addressed', () => {
      assert.equal(outcome(select(weighted([{ hostname: host('v2') }]), { port: 9090 })), 'v2:9090');
    });
    it('a rule without backends forwards to the service itself', () => {
      const d = forward(select([{ name: 'shop/self', kind: 'HTTPRoute', rules: [{}] }], { port: 9090 }));
      assert.deepEqual([d.route, d.rule, outcome(d)], ['shop/self', 0, 'reviews:9090']);
    });
    it('passes the weights to the picker, absent weights as 1, and forwards to the index it returns', () => {
      let seen: readonly number[] = [];
      const pick: WeightedPicker = (weights) => {
        seen = weights;
        return 1;
      };
      const d = select(weighted([{ hostname: host('a'), port: 1 }, { hostname: host('b'), port: 2, weight: 3 }, { hostname: host('c') }]), {}, pick);
      assert.deepEqual(seen, [1, 3, 1]);
      assert.equal(outcome(d), 'b:2');
    });
    it('a single backend needs no pick', () => {
      assert.equal(outcome(select(weighted([{ hostname: host('only'), port: 1, weight: 5 }]), {}, noPick)), 'only:1');
    });
    it('a backend with weight 0 is never picked: with one other backend, no pick at all', () => {
      assert.equal(
        outcome(
          select(
            weighted([
              { hostname: host('off'), port: 1, weight: 0 },
              { hostname: host('on'), port: 2 },
            ]),
            {},
            noPick,
          ),
        ),
        'on:2',
      );
    });
    it('all weights 0 answers 500 (Gateway API)', () => {
      const d = select(
        weighted([
          { hostname: host('a'), port: 1, weight: 0 },
          { hostname: host('b'), port: 2, weight: 0 },
        ]),
        {},
        noPick,
      );
      assert.deepEqual(d, { kind: 'direct', route: 'shop/split', routeKind: 'HTTPRoute', rule: 0, status: 500 });
    });
    it('a picker returning an index out of range or of a weight-0 backend is a bug, not a route', () => {
      const routes = weighted([
        { hostname: host('a'), port: 1 },
        { hostname: host('b'), port: 2, weight: 0 },
        { hostname: host('c'), port: 3 },
      ]);
      for (const bad of [3, -1, 0.5, Number.NaN, 1]) assert.throws(() => select(routes, {}, () => bad), RangeError, String(bad));
    });
    it('weightedPick: each index owns a share of [0, 1) proportional to its weight, weight 0 none', () => {
      const cases: [number[], number, number][] = [
        [[1, 1], 0, 0],
        [[1, 1], 0.49, 0],
        [[1, 1], 0.5, 1],
        [[1, 1], 0.999999, 1],
        [[0, 1, 0, 1], 0, 1],
        [[0, 1, 0, 1], 0.6, 3],
        [[9, 1], 0.89, 0],
        [[9, 1], 0.9, 1],
        [[1, 0], 0.999999999, 0],
      ];
      for (const [weights, random, expected] of cases) assert.equal(weightedPick(weights, random), expected, `${weights} at ${random}`);
      assert.throws(() => weightedPick([0, 0], 0.5), RangeError);
    });
    it('randomPick never returns a weight-0 index', () => {
      for (let i = 0; i < 200; i++) assert.notEqual(randomPick([1, 0, 1]), 1);
    });
    it('a 90/10 split lands within the 99.9% binomial bound over 2000 picks (seeded)', () => {
      const random = seededRandom(0x5eed);
      const routes = weighted([
        { hostname: host('stable'), port: 1, weight: 90 },
        { hostname: host('canary'), port: 2, weight: 10 },
      ]);
      const s = service(routes);
      const n = 2000;
      let stable = 0;
      for (let i = 0; i < n; i++) if (outcome(selectRoute(s, request(), (w) => weightedPick(w, random()))) === 'stable:1') stable++;
      // Normal approximation of Binomial(2000, 0.9): sd = sqrt(n·p·(1-p)) ≈ 13.4; 99.9% two-sided: z = 3.29.
      const bound = 3.29 * Math.sqrt(n * 0.9 * 0.1);
      assert.ok(Math.abs(stable - 0.9 * n) <= bound, `${stable} of ${n} to the 90% backend, expected 1800 ± ${bound.toFixed(1)}`);
    });
  });

  describe('direct responses', () => {
    it('a rule whose backends all failed to resolve answers its direct response status', () => {
      const d = select([http('broken', undefined, { directResponseStatus: 500 })]);
      assert.deepEqual(d, { kind: 'direct', route: 'shop/broken', routeKind: 'HTTPRoute', rule: 0, status: 500 });
    });
  });

  describe('redirects', () => {
    const redirecting = (r: RequestRedirect, match?: RouteMatch): Route[] => [http('unused', match, { filters: [{ requestRedirect: r }] })];
    const cases: [string, RequestRedirect, Partial<RequestFacts>, string][] = [
      ['nothing set: same place, the port addressed kept', {}, { path: '/a?x=1' }, 'http://reviews:9080/a?x=1'],
      ['the port is the one addressed, not the Host header’s', {}, { authority: 'reviews', path: '/a', port: 9080 }, 'http://reviews:9080/a'],
      ['port 80 addressed: no port in Location', {}, { authority: 'reviews', path: '/a', port: 80 }, 'http://reviews/a'],
      ['scheme https, port unset: 443, left out', { scheme: 'https' }, { path: '/a' }, 'https://reviews/a'],
      ['scheme https, port 443: left out', { scheme: 'https', port: 443 }, { path: '/a' }, 'https://reviews/a'],
      ['scheme https, port 8443', { scheme: 'https', port: 8443 }, { path: '/a' }, 'https://reviews:8443/a'],
      ['scheme https, port 80 is kept', { scheme: 'https', port: 80 }, { path: '/a' }, 'https://reviews:80/a'],
      ['scheme http set, port unset: its well-known port 80, left out', { scheme: 'http' }, { path: '/a', port: 9080 }, 'http://reviews/a'],
      ['port 8080, scheme unset', { port: 8080 }, { path: '/a' }, 'http://reviews:8080/a'],
      ['port 80, scheme unset: left out', { port: 80 }, { path: '/a' }, 'http://reviews/a'],
      ['port 443, scheme unset (http): kept', { port: 443 }, { path: '/a' }, 'http://reviews:443/a'],
      ['hostname', { hostname: 'example.com' }, { path: '/a' }, 'http://example.com:9080/a'],
      ['hostname, scheme and port together', { hostname: 'example.com', scheme: 'https', port: 8443 }, { path: '/a?b=c' }, 'https://example.com:8443/a?b=c'],
      ['an IPv6 authority keeps its brackets', {}, { authority: '[fd00::1]:9080', path: '/a' }, 'http://[fd00::1]:9080/a'],
      ['a bracketed IPv6 authority without a port', {}, { authority: '[fd00::1]', path: '/a' }, 'http://[fd00::1]:9080/a'],
      ['no Host: the service hostname', {}, { authority: '', path: '/a' }, `http://${host('reviews')}:9080/a`],
      ['ReplaceFullPath, query kept', { path: { type: 'REPLACE_FULL_PATH', value: '/new' } }, { path: '/a/b?x=1' }, 'http://reviews:9080/new?x=1'],
      ['ReplaceFullPath is the default type', { path: { value: '/new' } }, { path: '/a' }, 'http://reviews:9080/new'],
      ['ReplaceFullPath with an empty value: /', { path: { type: 'REPLACE_FULL_PATH', value: '' } }, { path: '/a' }, 'http://reviews:9080/'],
      [
        'ReplacePrefixMatch without a path match replaces prefix /',
        { path: { type: 'REPLACE_PREFIX_MATCH', value: '/xyz' } },
        { path: '/a/b' },
        'http://reviews:9080/xyz/a/b',
      ],
    ];
    for (const [name, r, req, location] of cases) {
      it(name, () => {
        assert.deepEqual(redirectOf(select(redirecting(r), req)), { status: 302, location });
      });
    }

    for (const [prefix, replacement, path, result] of prefixRewrites) {
      it(`ReplacePrefixMatch: prefix ${prefix} → ${JSON.stringify(replacement)} turns ${path} into ${result}`, () => {
        const d = select(redirecting({ path: { type: 'REPLACE_PREFIX_MATCH', value: replacement } }, { path: { type: 'PATH_PREFIX', value: prefix } }), {
          path,
        });
        assert.equal(redirectOf(d).location, `http://reviews:9080${result}`);
      });
    }

    it('ReplacePrefixMatch after an exact match replaces the whole path', () => {
      const d = select(redirecting({ path: { type: 'REPLACE_PREFIX_MATCH', value: '/bar' } }, { path: { type: 'EXACT', value: '/foo' } }), {
        path: '/foo?q=1',
      });
      assert.equal(redirectOf(d).location, 'http://reviews:9080/bar?q=1');
    });

    const statuses: [number | undefined, number][] = [
      [undefined, 302],
      [301, 301],
      [302, 302],
      [303, 303],
      [307, 307],
      [308, 308],
      [200, 302],
    ];
    for (const [statusCode, status] of statuses) {
      it(`status code ${statusCode ?? 'unset'} → ${status}`, () => {
        const r: RequestRedirect = statusCode === undefined ? {} : { statusCode };
        assert.equal(redirectOf(select(redirecting(r), { path: '/' })).status, status);
      });
    }

    it('reports the route and rule, and wins over the rule’s failed backends', () => {
      const d = select([http('moved', undefined, { filters: [{ requestRedirect: { statusCode: 301 } }], directResponseStatus: 500 })], { path: '/x' });
      assert.deepEqual(d, { kind: 'redirect', route: 'shop/moved', routeKind: 'HTTPRoute', rule: 0, status: 301, location: 'http://reviews:9080/x' });
    });
  });

  describe('URL rewrites', () => {
    const rewriting = (filters: Filter[], match?: RouteMatch): Route[] => [http('v2', match, { filters })];

    it('no rewrite: the path as received and no authority', () => {
      const d = forward(select(rewriting([]), { path: '/a?b=1' }));
      assert.equal(d.path, '/a?b=1');
      assert.equal('authority' in d, false);
    });
    it('hostname becomes the upstream authority; the path stays', () => {
      const d = forward(select(rewriting([{ urlRewrite: { hostname: 'reviews-v2.internal' } }]), { path: '/a?b=1' }));
      assert.deepEqual([d.authority, d.path, outcome(d)], ['reviews-v2.internal', '/a?b=1', 'v2:9080']);
    });
    it('ReplaceFullPath keeps the query string', () => {
      const d = forward(select(rewriting([{ urlRewrite: { path: { type: 'REPLACE_FULL_PATH', value: '/v2' } } }]), { path: '/v1/x?y=1' }));
      assert.equal(d.path, '/v2?y=1');
    });
    it('hostname and path together', () => {
      const d = forward(select(rewriting([{ urlRewrite: { hostname: 'h', path: { type: 'REPLACE_FULL_PATH', value: '/v2' } } }]), { path: '/v1' }));
      assert.deepEqual([d.authority, d.path], ['h', '/v2']);
    });
    for (const [prefix, replacement, path, result] of prefixRewrites) {
      it(`ReplacePrefixMatch: prefix ${prefix} → ${JSON.stringify(replacement)} turns ${path} into ${result}`, () => {
        const filters: Filter[] = [{ urlRewrite: { path: { type: 'REPLACE_PREFIX_MATCH', value: replacement } } }];
        const d = forward(select(rewriting(filters, { path: { type: 'PATH_PREFIX', value: prefix } }), { path }));
        assert.equal(d.path, result);
      });
    }
    it('ReplacePrefixMatch uses the prefix of the match that matched', () => {
      const route: Route = {
        name: 'shop/multi',
        kind: 'HTTPRoute',
        rules: [
          {
            matches: [{ path: { type: 'PATH_PREFIX', value: '/old' } }, { path: { type: 'PATH_PREFIX', value: '/legacy/api' } }],
            filters: [{ urlRewrite: { path: { type: 'REPLACE_PREFIX_MATCH', value: '/new' } } }],
          },
        ],
      };
      assert.equal(forward(select([route], { path: '/old/x' })).path, '/new/x');
      assert.equal(forward(select([route], { path: '/legacy/api/x' })).path, '/new/x');
    });
  });

  describe('filters passed through', () => {
    it('header modifiers in order, mirrors, timeouts and retry', () => {
      const filters: Filter[] = [
        { requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }] } },
        { responseHeaderModifier: { remove: ['x-internal'] } },
        { requestMirror: { backend: { hostname: host('shadow'), port: 9080 }, percent: 10 } },
        { requestHeaderModifier: { add: [{ name: 'x-b', value: '2' }] } },
        { requestMirror: { backend: { hostname: host('audit') } } },
      ];
      const d = forward(
        select([http('v2', undefined, { filters, timeouts: { requestMs: 1500, backendRequestMs: 500 }, retry: { attempts: 3, backoffMs: 25, codes: [503] } })]),
      );
      assert.deepEqual(d.requestHeaders, [{ set: [{ name: 'x-a', value: '1' }] }, { add: [{ name: 'x-b', value: '2' }] }]);
      assert.deepEqual(d.responseHeaders, [{ remove: ['x-internal'] }]);
      assert.deepEqual(d.mirrors, [{ backend: { hostname: host('shadow'), port: 9080 }, percent: 10 }, { backend: { hostname: host('audit') } }]);
      assert.deepEqual(d.timeouts, { requestMs: 1500, backendRequestMs: 500 });
      assert.deepEqual(d.retry, { attempts: 3, backoffMs: 25, codes: [503] });
    });
    it('a rule without them: empty lists and no timeouts or retry', () => {
      const d = forward(select([http('v2', undefined)]));
      assert.deepEqual([d.requestHeaders, d.responseHeaders, d.mirrors], [[], [], []]);
      assert.equal('timeouts' in d || 'retry' in d, false);
    });
  });

  describe('compiled routes', () => {
    it('are compiled once per ServiceConfig object and again for a new one', () => {
      const routes = [http('v2', { path: { type: 'REGULAR_EXPRESSION', value: '/[a-z]+' } })];
      const s = service(routes);
      const compiled = compileRoutes(s);
      selectRoute(s, request({ path: '/abc' }), noPick);
      assert.equal(compileRoutes(s), compiled);
      assert.notEqual(compileRoutes(service(routes)), compiled);
    });
  });
});
