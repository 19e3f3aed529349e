import assert from 'node:assert/strict';
import type { Match, StringMatch } from '../../src/mesh-types.ts';
import { field, l4Matches, principalOf, stringMatches } from '../../src/proxy-runtime/authorization-match.ts';
import type { L4Subject } from '../../src/proxy-runtime/authorization-match.ts';

const subject: L4Subject = {
  principal: 'cluster.local/ns/shop/sa/client',
  namespace: 'shop',
  sourceIp: '10.244.1.2',
  destinationIp: '10.244.2.2',
  destinationPort: 8080,
};

describe('authorization-match', () => {
  it('matches a StringMatch in its four forms, never an absent or empty value', () => {
    const cases: [StringMatch, string | undefined, boolean][] = [
      [{ exact: 'shop' }, 'shop', true],
      [{ exact: 'shop' }, 'shops', false],
      [{ prefix: 'sh' }, 'shop', true],
      [{ prefix: 'sh' }, 'ash', false],
      [{ suffix: 'op' }, 'shop', true],
      [{ suffix: 'op' }, 'opa', false],
      [{ presence: true }, 'x', true],
      [{ presence: true }, '', false],
      [{ presence: true }, undefined, false],
      [{ exact: '' }, '', false],
    ];
    for (const [m, v, want] of cases) assert.equal(stringMatches(m, v), want, `${JSON.stringify(m)} ${v}`);
  });

  it('lets an empty field pass, requires one value, and refuses any negated value', () => {
    const eq = (v: number) => v === 2;
    assert.equal(field(undefined, undefined, eq), true);
    assert.equal(field([], [], eq), true);
    assert.equal(field([1, 2], undefined, eq), true);
    assert.equal(field([1, 3], undefined, eq), false);
    assert.equal(field(undefined, [2], eq), false);
    assert.equal(field([2], [2], eq), false);
  });

  it('ANDs the L4 fields of a match', () => {
    const cases: [Match, boolean][] = [
      [{}, true],
      [{ namespaces: [{ exact: 'shop' }], principals: [{ suffix: '/sa/client' }] }, true],
      [{ namespaces: [{ exact: 'shop' }], principals: [{ suffix: '/sa/other' }] }, false],
      [{ sourceIps: [{ address: '10.244.1.0', length: 24 }], destinationPorts: [8080] }, true],
      [{ sourceIps: [{ address: '10.244.1.0', length: 24 }], notDestinationPorts: [8080] }, false],
      [{ destinationIps: [{ address: '10.244.2.2', length: 32 }] }, true],
      [{ notDestinationIps: [{ address: '10.244.0.0', length: 16 }] }, false],
    ];
    for (const [m, want] of cases) assert.equal(l4Matches(m, subject), want, JSON.stringify(m));
  });

  it('never matches a destination IP it does not know, and so lets its negation pass', () => {
    const { destinationIp: _, ...noIp } = subject;
    assert.equal(l4Matches({ destinationIps: [{ address: '0.0.0.0', length: 0 }] }, noIp), false);
    assert.equal(l4Matches({ notDestinationIps: [{ address: '0.0.0.0', length: 0 }] }, noIp), true);
  });

  it('writes a SPIFFE ID in the principal form policies use', () => {
    assert.equal(principalOf('spiffe://cluster.local/ns/a/sa/b'), 'cluster.local/ns/a/sa/b');
    assert.equal(principalOf('cluster.local/ns/a/sa/b'), 'cluster.local/ns/a/sa/b');
  });
});
