import assert from 'node:assert/strict';
import type { ConsistentHash } from '@ambient/api';
import { cookieValue, generateCookie, hashKeyOf, queryValue } from '../../src/balance/hash-key.ts';
import { noContext } from './balance-fixtures.ts';

describe('consistent hash keys', () => {
  const keys: [string, ConsistentHash, Partial<typeof noContext>, string | undefined][] = [
    ['a header', { httpHeaderName: 'x-user' }, { headers: { 'x-user': 'alice' } }, 'alice'],
    ['the first of a repeated header', { httpHeaderName: 'x-user' }, { headers: { 'x-user': ['alice', 'bob'] } as never }, 'alice'],
    ['a missing header', { httpHeaderName: 'x-user' }, {}, undefined],
    ['a cookie', { httpCookie: { name: 'lb' } }, { headers: { cookie: 'a=1; lb=abc; c=3' } }, 'abc'],
    ['the source ip', { useSourceIp: true }, { sourceIp: '10.1.2.3' }, '10.1.2.3'],
    ['a query parameter', { httpQueryParameterName: 'cart' }, { path: '/x?a=1&cart=42' }, '42'],
  ];
  for (const [what, ch, ctx, expected] of keys) {
    it(`reads ${what}`, () => {
      assert.equal(hashKeyOf(ch, { ...noContext, ...ctx }), expected);
    });
  }

  const cookies: [string | string[] | undefined, string | undefined][] = [
    ['lb=1', '1'],
    ['a=1;lb=2', '2'],
    ['a=1; lb="quoted"', 'quoted'],
    ['xlb=1; lbx=2', undefined],
    ['lb=', ''],
    [['a=1', 'lb=3'], '3'],
    [undefined, undefined],
    ['a=1; =2', undefined],
  ];
  for (const [header, expected] of cookies) {
    it(`finds cookie lb in ${JSON.stringify(header)}: ${JSON.stringify(expected)}`, () => {
      assert.equal(cookieValue(header, 'lb'), expected);
    });
  }

  const queries: [string, string | undefined][] = [
    ['/p?cart=1', '1'],
    ['/p?a=1&cart=2&cart=3', '2'],
    ['/p?cart', ''],
    ['/p?cart=', ''],
    ['/p?carts=1', undefined],
    ['/p?a=cart', undefined],
    ['/p?a=1#cart=2', undefined],
    ['/p?cart=%41', '%41'],
    ['/p', undefined],
  ];
  for (const [path, expected] of queries) {
    it(`finds parameter cart in ${path}: ${JSON.stringify(expected)}`, () => {
      assert.equal(queryValue(path, 'cart'), expected);
    });
  }

  it('generates a cookie with path and Max-Age (seconds, rounded up)', () => {
    const values = [0.5, 0.25];
    const c = generateCookie({ name: 'lb', path: '/shop', ttlMs: 1500 }, () => values.shift() ?? 0);
    assert.deepEqual(c, { value: '8000000040000000', setCookie: 'lb=8000000040000000; Path=/shop; Max-Age=2; HttpOnly' });
  });

  it('generates a session cookie (no Max-Age) for a ttl of 0', () => {
    assert.equal(generateCookie({ name: 'lb', ttlMs: 0 }, () => 0).setCookie, 'lb=0000000000000000; HttpOnly');
  });
});
