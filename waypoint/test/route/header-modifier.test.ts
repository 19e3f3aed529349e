import assert from 'node:assert/strict';
import type { HeaderModifier } from '@ambient/api';
import { applyHeaderModifier, isModifiableHeader, type MutableHeaders } from '../../src/route/header-modifier.ts';

function apply(headers: MutableHeaders, mod: HeaderModifier): MutableHeaders {
  applyHeaderModifier(headers, mod);
  return headers;
}

describe('applyHeaderModifier', () => {
  const cases: [string, MutableHeaders, HeaderModifier, MutableHeaders][] = [
    ['set creates a header', {}, { set: [{ name: 'x-a', value: '1' }] }, { 'x-a': '1' }],
    ['set replaces a value', { 'x-a': 'old' }, { set: [{ name: 'x-a', value: '1' }] }, { 'x-a': '1' }],
    ['set replaces every value of a repeated header', { 'x-a': ['o1', 'o2'] }, { set: [{ name: 'x-a', value: '1' }] }, { 'x-a': '1' }],
    ['set matches names case-insensitively', { 'x-a': 'old' }, { set: [{ name: 'X-A', value: '1' }] }, { 'x-a': '1' }],
    ['set without a value sets the empty value', { 'x-a': 'old' }, { set: [{ name: 'x-a' }] }, { 'x-a': '' }],
    ['add creates a header', {}, { add: [{ name: 'x-a', value: '1' }] }, { 'x-a': '1' }],
    ['add appends Gateway API style (foo,bar)', { 'x-a': 'foo' }, { add: [{ name: 'X-A', value: 'bar' }] }, { 'x-a': 'foo,bar' }],
    [
      'add twice appends twice',
      { 'x-a': 'foo' },
      {
        add: [
          { name: 'x-a', value: 'bar' },
          { name: 'x-a', value: 'baz' },
        ],
      },
      { 'x-a': 'foo,bar,baz' },
    ],
    ['add to a repeated header adds a field line', { 'x-a': ['1', '2'] }, { add: [{ name: 'x-a', value: '3' }] }, { 'x-a': ['1', '2', '3'] }],
    [
      'add set-cookie keeps cookies as separate lines',
      { 'set-cookie': 'a=1' },
      { add: [{ name: 'Set-Cookie', value: 'b=2' }] },
      { 'set-cookie': ['a=1', 'b=2'] },
    ],
    ['add cookie joins pairs with "; "', { cookie: 'a=1' }, { add: [{ name: 'cookie', value: 'b=2' }] }, { cookie: 'a=1; b=2' }],
    ['remove deletes a header', { 'x-a': '1', 'x-b': '2' }, { remove: ['x-a'] }, { 'x-b': '2' }],
    ['remove matches names case-insensitively', { 'x-a': ['1', '2'] }, { remove: ['X-A'] }, {}],
    ['remove of an absent header is a no-op', { 'x-b': '2' }, { remove: ['x-a'] }, { 'x-b': '2' }],
    [
      'remove, then set, then add (Envoy order)',
      { 'x-a': 'old', 'x-b': 'old' },
      { add: [{ name: 'x-a', value: 'added' }], set: [{ name: 'x-a', value: 'set' }], remove: ['x-a', 'x-b'] },
      { 'x-a': 'set,added' },
    ],
    [
      'a value with CR LF is skipped (Node would refuse to send it)',
      {},
      { set: [{ name: 'x-a', value: 'v\r\nx-evil: 1' }], add: [{ name: 'x-b', value: 'a\0' }] },
      {},
    ],
    [
      'a name that is not a token is skipped',
      {},
      {
        set: [
          { name: 'x a', value: '1' },
          { name: 'x-a\r\nx-b', value: '1' },
          { name: '', value: '1' },
        ],
      },
      {},
    ],
  ];
  for (const [name, headers, mod, expected] of cases) {
    it(name, () => {
      assert.deepEqual(apply(headers, mod), expected);
    });
  }

  it('does not change the array it appended to (it may be the incoming request’s own)', () => {
    const incoming = ['1', '2'];
    const headers: MutableHeaders = { 'x-a': incoming };
    applyHeaderModifier(headers, { add: [{ name: 'x-a', value: '3' }] });
    assert.deepEqual(incoming, ['1', '2']);
    assert.deepEqual(headers['x-a'], ['1', '2', '3']);
  });

  const protectedNames = [
    ':path',
    ':authority',
    ':method',
    ':scheme',
    ':status',
    'host',
    'connection',
    'keep-alive',
    'proxy-connection',
    'transfer-encoding',
    'upgrade',
    'te',
    'trailer',
    'content-length',
  ];
  for (const name of protectedNames) {
    it(`never sets, adds or removes ${name} (the proxy owns it)`, () => {
      const headers: MutableHeaders = { [name]: 'original' };
      applyHeaderModifier(headers, { set: [{ name, value: 'x' }] });
      applyHeaderModifier(headers, { add: [{ name: name.toUpperCase(), value: 'x' }] });
      applyHeaderModifier(headers, { remove: [name] });
      assert.deepEqual(headers, { [name]: 'original' });
      assert.equal(isModifiableHeader(name), false);
    });
  }

  it('modifies ordinary headers, including authorization and set-cookie', () => {
    for (const name of ['x-request-id', 'authorization', 'set-cookie', 'cookie', 'user-agent', 'content-type'])
      assert.equal(isModifiableHeader(name), true, name);
  });
});
