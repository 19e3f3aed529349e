import assert from 'node:assert/strict';
import { InvalidPolicyField, parseRateLimitPolicy, parseStoreAddress, type RateLimitPolicySpec } from '../../src/mesh-policy/index.ts';

const route = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'reviews' };
const oneLimit = { api: { rates: [{ limit: 10, window: '1m' }] } };

function withLimit(limit: unknown, store?: unknown): unknown {
  return { targetRefs: [route], limits: { api: limit }, ...(store === undefined ? {} : { store }) };
}

function parseError(spec: unknown): InvalidPolicyField {
  try {
    parseRateLimitPolicy(spec);
  } catch (err) {
    assert.ok(err instanceof InvalidPolicyField, `${JSON.stringify(spec)} threw ${String(err)}`);
    return err;
  }
  assert.fail(`${JSON.stringify(spec)} parsed`);
}

describe('parseRateLimitPolicy', () => {
  it('reads every field of a full policy, limits sorted by name', () => {
    const spec = parseRateLimitPolicy({
      targetRefs: [route, { group: '', kind: 'Service', name: 'ratings' }],
      limits: {
        'per-caller': {
          rates: [
            { limit: 100, window: '1m' },
            { limit: 10, window: '1s' },
          ],
          counters: [{ expression: 'source.principal' }, { expression: "request.headers['X-Tenant']" }],
          when: [
            { predicate: "request.method == 'POST'" },
            { predicate: '"/admin" != request.path' },
            { predicate: "request.path.startsWith('/api/')" },
            { predicate: "request.host.endsWith('.example.com')" },
            { predicate: "source.namespace.matches('^team-[a-z]+$')" },
            { predicate: 'request.headers["user-agent"] == \'it\\\'s \\"me\\"\'' },
          ],
        },
        global: { rates: [{ limit: 1000, window: '1h' }] },
      },
      store: { type: 'Redis', address: 'redis.infra:6379', failureMode: 'Closed', timeout: '20ms' },
    });
    const want: RateLimitPolicySpec = {
      targets: [
        { kind: 'HTTPRoute', name: 'reviews' },
        { kind: 'Service', name: 'ratings' },
      ],
      limits: [
        {
          name: 'global',
          rates: [{ limit: 1000, windowMs: 3_600_000 }],
          counters: [],
          when: [],
        },
        {
          name: 'per-caller',
          rates: [
            { limit: 100, windowMs: 60_000 },
            { limit: 10, windowMs: 1000 },
          ],
          counters: [
            { text: 'source.principal', attribute: { name: 'source.principal' } },
            { text: "request.headers['X-Tenant']", attribute: { name: 'request.headers', header: 'x-tenant' } },
          ],
          when: [
            { text: "request.method == 'POST'", attribute: { name: 'request.method' }, op: '==', value: 'POST' },
            { text: '"/admin" != request.path', attribute: { name: 'request.path' }, op: '!=', value: '/admin' },
            { text: "request.path.startsWith('/api/')", attribute: { name: 'request.path' }, op: 'startsWith', value: '/api/' },
            { text: "request.host.endsWith('.example.com')", attribute: { name: 'request.host' }, op: 'endsWith', value: '.example.com' },
            { text: "source.namespace.matches('^team-[a-z]+$')", attribute: { name: 'source.namespace' }, op: 'matches', value: '^team-[a-z]+$' },
            {
              text: 'request.headers["user-agent"] == \'it\\\'s \\"me\\"\'',
              attribute: { name: 'request.headers', header: 'user-agent' },
              op: '==',
              value: 'it\'s "me"',
            },
          ],
        },
      ],
      store: { type: 'Redis', address: 'redis.infra:6379', failureMode: 'Closed', timeoutMs: 20 },
    };
    assert.deepEqual(spec, want);
  });

  it('defaults: no store = Local; a Redis store fails open with a 50ms budget and the waypoint’s address', () => {
    assert.deepEqual(parseRateLimitPolicy({ targetRef: { kind: 'Gateway', name: 'waypoint' }, limits: oneLimit }).store, { type: 'Local' });
    assert.deepEqual(parseRateLimitPolicy({ targetRefs: [route], limits: oneLimit, store: {} }).store, { type: 'Local' });
    assert.deepEqual(parseRateLimitPolicy({ targetRefs: [route], limits: oneLimit, store: { type: 'Redis' } }).store, {
      type: 'Redis',
      failureMode: 'Open',
      timeoutMs: 50,
    });
  });

  it('accepts the old single targetRef and every target kind', () => {
    for (const kind of ['Gateway', 'HTTPRoute', 'GRPCRoute', 'Service']) {
      const spec = parseRateLimitPolicy({ targetRef: { kind, name: 'x' }, limits: oneLimit });
      assert.deepEqual(spec.targets, [{ kind, name: 'x' }]);
    }
  });

  const bad: [string, unknown, string, RegExp][] = [
    ['not an object', 'x', 'spec', /expected an object/],
    ['no targets', { limits: oneLimit }, 'spec.targetRefs', /missing: expected a list of 1 to 16/],
    [
      'a target kind it cannot attach to',
      { targetRefs: [{ kind: 'Pod', name: 'x' }], limits: oneLimit },
      'spec.targetRefs[0].kind',
      /"Pod": expected one of Gateway, HTTPRoute, GRPCRoute, Service/,
    ],
    ['a section name', { targetRefs: [{ ...route, sectionName: 'rule-1' }], limits: oneLimit }, 'spec.targetRefs[0].sectionName', /"rule-1": not supported/],
    ['no limits', { targetRefs: [route] }, 'spec.limits', /missing: expected an object/],
    ['empty limits', { targetRefs: [route], limits: {} }, 'spec.limits', /0 limits: expected 1 to 32/],
    ['a bad limit name', { targetRefs: [route], limits: { 'a b': oneLimit.api } }, 'spec.limits["a b"]', /not a limit name/],
    ['no rates', withLimit({}), 'spec.limits.api.rates', /missing: expected a list of 1 to 8/],
    ['a zero limit', withLimit({ rates: [{ limit: 0, window: '1s' }] }), 'spec.limits.api.rates[0].limit', /0: expected an integer from 1/],
    ['a fractional limit', withLimit({ rates: [{ limit: 1.5, window: '1s' }] }), 'spec.limits.api.rates[0].limit', /1\.5: expected an integer/],
    ['a missing limit', withLimit({ rates: [{ window: '1s' }] }), 'spec.limits.api.rates[0].limit', /missing/],
    ['a missing window', withLimit({ rates: [{ limit: 1 }] }), 'spec.limits.api.rates[0].window', /missing/],
    [
      'a window that is no duration',
      withLimit({ rates: [{ limit: 1, window: '1 minute' }] }),
      'spec.limits.api.rates[0].window',
      /"1 minute": not a Gateway API duration/,
    ],
    ['a window over a day', withLimit({ rates: [{ limit: 1, window: '25h' }] }), 'spec.limits.api.rates[0].window', /expected from 1ms to 24h/],
    [
      'a Redis limit too large for a sliding log',
      withLimit({ rates: [{ limit: 200_000, window: '1m' }] }, { type: 'Redis' }),
      'spec.limits.api.rates[0].limit',
      /200000: the Redis store keeps one entry per admitted request \(a sliding log\), at most 100000/,
    ],
    [
      'an empty counter',
      withLimit({ rates: oneLimit.api.rates, counters: [{ expression: ' ' }] }),
      'spec.limits.api.counters[0].expression',
      /expected an expression/,
    ],
    [
      'a Kuadrant attribute outside the subset',
      withLimit({ rates: oneLimit.api.rates, counters: [{ expression: 'auth.identity.principal' }] }),
      'spec.limits.api.counters[0].expression',
      /unknown attribute "auth.identity"; expected one of request.method, .*source.namespace/,
    ],
    [
      'a predicate as a counter',
      withLimit({ rates: oneLimit.api.rates, counters: [{ expression: "request.method == 'GET'" }] }),
      'spec.limits.api.counters[0].expression',
      /a counter is an attribute, not a predicate/,
    ],
    [
      'a header without a name',
      withLimit({ rates: oneLimit.api.rates, counters: [{ expression: 'request.headers' }] }),
      'spec.limits.api.counters[0].expression',
      /expected request.headers\['header-name'\]/,
    ],
    [
      'a header name that is no token',
      withLimit({ rates: oneLimit.api.rates, counters: [{ expression: "request.headers['a b']" }] }),
      'spec.limits.api.counters[0].expression',
      /expected a quoted header name at column 17/,
    ],
    [
      '&&',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.method == 'GET' && request.path == '/'" }] }),
      'spec.limits.api.when[0].predicate',
      /unexpected "&" at column 25: one comparison per predicate/,
    ],
    [
      'negation',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "!request.path.startsWith('/a')" }] }),
      'spec.limits.api.when[0].predicate',
      /negation is not supported/,
    ],
    [
      '<',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path < 'b'" }] }),
      'spec.limits.api.when[0].predicate',
      /only ==, !=, startsWith, endsWith and matches/,
    ],
    [
      'a bare attribute',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: 'request.method' }] }),
      'spec.limits.api.when[0].predicate',
      /expected ==, !=, .startsWith\(\), .endsWith\(\) or .matches\(\) at the end/,
    ],
    [
      'an unquoted literal',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: 'request.method == GET' }] }),
      'spec.limits.api.when[0].predicate',
      /expected a quoted string literal at column 19/,
    ],
    [
      'an unknown function',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path.contains('x')" }] }),
      'spec.limits.api.when[0].predicate',
      /unsupported function "contains"/,
    ],
    [
      'an unterminated string',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path == '/x" }] }),
      'spec.limits.api.when[0].predicate',
      /unterminated string starting at column 17/,
    ],
    [
      'an unknown escape',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path == '\\u0041'" }] }),
      'spec.limits.api.when[0].predicate',
      /unsupported escape "\\u"/,
    ],
    [
      'two literals',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "'a' == 'b'" }] }),
      'spec.limits.api.when[0].predicate',
      /expected an attribute/,
    ],
    [
      'trailing tokens',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path == '/' or x" }] }),
      'spec.limits.api.when[0].predicate',
      /one comparison per predicate/,
    ],
    [
      'an invalid regex',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path.matches('(')" }] }),
      'spec.limits.api.when[0].predicate',
      /invalid regex "\("/,
    ],
    [
      'a backreference',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.path.matches('(a)\\\\1')" }] }),
      'spec.limits.api.when[0].predicate',
      /backreference or lookaround, which RE2/,
    ],
    [
      // Regression: the predicate's regex runs on every request against values the client
      // chooses (headers, path); only backreferences and lookaround were refused, so a
      // backtracking shape was accepted.
      'a regex that can backtrack exponentially (ReDoS on the request path)',
      withLimit({ rates: oneLimit.api.rates, when: [{ predicate: "request.headers['x-user'].matches('^(a+)+$')" }] }),
      'spec.limits.api.when[0].predicate',
      /backtrack exponentially/,
    ],
    ['an unknown store type', withLimit(oneLimit.api, { type: 'Memcached' }), 'spec.store.type', /"Memcached": expected one of Local, Redis/],
    ['a Redis field on a Local store', withLimit(oneLimit.api, { address: 'redis:6379' }), 'spec.store.address', /"redis:6379": only for type Redis/],
    ['an address without a port', withLimit(oneLimit.api, { type: 'Redis', address: 'redis' }), 'spec.store.address', /"redis": expected "host:port"/],
    ['a bad failure mode', withLimit(oneLimit.api, { type: 'Redis', failureMode: 'open' }), 'spec.store.failureMode', /"open": expected one of Open, Closed/],
    ['a timeout over 1s', withLimit(oneLimit.api, { type: 'Redis', timeout: '2s' }), 'spec.store.timeout', /"2s": expected from 1ms to 1s/],
  ];

  for (const [name, spec, field, message] of bad) {
    it(`rejects ${name}, naming ${field}`, () => {
      const err = parseError(spec);
      assert.equal(err.field, field);
      assert.equal(err.code, 'ERR_INVALID_POLICY');
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(`${field} `), err.message);
    });
  }
});

describe('parseStoreAddress', () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    ['redis:6379', { host: 'redis', port: 6379 }],
    ['redis.infra.svc.cluster.local:6380', { host: 'redis.infra.svc.cluster.local', port: 6380 }],
    ['127.0.0.1:1', { host: '127.0.0.1', port: 1 }],
    ['[::1]:6379', { host: '::1', port: 6379 }],
    ['redis', undefined],
    [':6379', undefined],
    ['redis:0', undefined],
    ['redis:65536', undefined],
    ['redis:63a', undefined],
    ['::1:6379', undefined],
    ['[x]:6379', undefined],
    ['re dis:6379', undefined],
  ];
  for (const [address, want] of cases) {
    it(`${JSON.stringify(address)} → ${JSON.stringify(want)}`, () => assert.deepEqual(parseStoreAddress(address), want));
  }
});
