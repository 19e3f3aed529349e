import assert from 'node:assert/strict';
import { parseCounterExpression, parsePredicate } from '@ambient/api/mesh-policy';
import { attributeReader, compilePredicate, counterKey, type RateLimitRequest } from '../../src/policy/rate-limit-match.ts';

const request: RateLimitRequest = {
  method: 'POST',
  path: '/api/v1/orders?debug=1',
  host: 'shop.example.com',
  headers: { 'x-tenant': 'acme', 'x-tags': ['a', 'b'], 'x-empty': '' },
  sourceIp: '10.244.1.7',
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/frontend',
  sourceNamespace: 'shop',
};
const anonymous: RateLimitRequest = { method: 'GET', path: '/', host: 'shop', headers: {}, sourceIp: '10.244.2.9' };

function holds(predicate: string, req: RateLimitRequest): boolean {
  return compilePredicate(parsePredicate(predicate, 'test'))(req);
}

function read(expression: string, req: RateLimitRequest): string | undefined {
  return attributeReader(parseCounterExpression(expression, 'test'))(req);
}

describe('rate limit predicates', () => {
  const cases: [string, boolean, boolean][] = [
    // predicate, on `request`, on `anonymous` (no principal, namespace or headers)
    ["request.method == 'POST'", true, false],
    ["'POST' == request.method", true, false],
    ["request.method != 'POST'", false, true],
    ["request.path == '/api/v1/orders'", true, false],
    ["request.path.startsWith('/api/')", true, false],
    ["request.path.endsWith('orders')", true, false],
    ["request.path.endsWith('debug=1')", false, false],
    ["request.path.matches('^/api/v[0-9]+/')", true, false],
    ["request.path.matches('orders')", true, false],
    ["request.host.endsWith('.example.com')", true, false],
    ["request.headers['X-Tenant'] == 'acme'", true, false],
    ["request.headers['x-tenant'] != 'acme'", false, true],
    ["request.headers['x-tags'] == 'a,b'", true, false],
    ["request.headers['x-empty'] == ''", true, false],
    ["request.headers['x-empty'] != ''", false, true],
    ["source.address.startsWith('10.244.1.')", true, false],
    ["source.principal.endsWith('/sa/frontend')", true, false],
    ["source.principal != 'spiffe://cluster.local/ns/shop/sa/frontend'", false, true],
    ["source.namespace == 'shop'", true, false],
    ["source.namespace.matches('.*')", true, false],
  ];
  for (const [predicate, onRequest, onAnonymous] of cases) {
    it(`${predicate}: ${onRequest} / ${onAnonymous} without the attribute`, () => {
      assert.equal(holds(predicate, request), onRequest);
      assert.equal(holds(predicate, anonymous), onAnonymous);
    });
  }
});

describe('counterKey', () => {
  const principal = attributeReader({ name: 'source.principal' });
  const tenant = attributeReader({ name: 'request.headers', header: 'x-tenant' });

  it('reads each attribute', () => {
    assert.equal(read('request.method', request), 'POST');
    assert.equal(read('request.path', request), '/api/v1/orders');
    assert.equal(read('request.host', request), 'shop.example.com');
    assert.equal(read('source.address', request), '10.244.1.7');
    assert.equal(read('source.namespace', anonymous), undefined);
  });

  it('is empty without counters: one counter for everyone', () => {
    assert.equal(counterKey([], request), '');
    assert.equal(counterKey([], anonymous), '');
  });

  it('never lets two value lists share a key', () => {
    const a = attributeReader({ name: 'request.headers', header: 'a' });
    const b = attributeReader({ name: 'request.headers', header: 'b' });
    const keys = [
      { a: 'x', b: 'yz' },
      { a: 'xy', b: 'z' },
      { a: '1:x', b: undefined },
      { a: '', b: '' },
      { a: undefined, b: '' },
      { a: '', b: undefined },
      { a: undefined, b: undefined },
      { a: '-', b: '-' },
    ].map((h) => counterKey([a, b], { ...anonymous, headers: h as Record<string, string> }));
    assert.equal(new Set(keys).size, keys.length, JSON.stringify(keys));
  });

  it('counts requests without the attribute together, apart from any value', () => {
    const none = counterKey([tenant], anonymous);
    assert.equal(none, counterKey([tenant], { ...anonymous, method: 'DELETE' }));
    assert.notEqual(none, counterKey([tenant], { ...anonymous, headers: { 'x-tenant': '' } }));
    assert.notEqual(none, counterKey([tenant], request));
  });

  it('hashes long keys so a client cannot size them', () => {
    const long = 'x'.repeat(10_000);
    const key = counterKey([tenant], { ...anonymous, headers: { 'x-tenant': long } });
    assert.match(key, /^#[A-Za-z0-9_-]{43}$/);
    assert.notEqual(key, counterKey([tenant], { ...anonymous, headers: { 'x-tenant': `${long}y` } }));
    assert.equal(counterKey([principal, tenant], request), `42:spiffe://cluster.local/ns/shop/sa/frontend4:acme`);
  });
});
