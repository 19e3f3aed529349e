import assert from 'node:assert/strict';
import { principalMatches, ruleAdmits, stringMatches } from '../../src/analyze/source-match.ts';

const waypoint = { namespace: 'shop', serviceAccount: 'waypoint' };

describe('analyze: source matching', () => {
  const principals: [string, boolean][] = [
    ['cluster.local/ns/shop/sa/waypoint', true],
    ['spiffe://cluster.local/ns/shop/sa/waypoint', true],
    ['corp.example/ns/shop/sa/waypoint', true],
    ['cluster.local/ns/shop/sa/*', true],
    ['*/ns/shop/sa/waypoint', true],
    ['*', true],
    ['cluster.local/ns/shop/sa/frontend', false],
    ['cluster.local/ns/other/sa/waypoint', false],
    ['cluster.local/ns/shop/sa/waypoint-2', false],
  ];
  for (const [pattern, want] of principals)
    it(`principal ${pattern} ${want ? 'matches' : 'does not match'} the waypoint`, () => assert.equal(principalMatches(pattern, waypoint), want));

  const strings: [string, string, boolean][] = [
    ['*', 'x', true],
    ['*', '', false],
    ['sh*', 'shop', true],
    ['*op', 'shop', true],
    ['shop', 'shop', true],
    ['sho', 'shop', false],
  ];
  for (const [pattern, value, want] of strings)
    it(`Istio string match "${pattern}" on "${value}" is ${want}`, () => assert.equal(stringMatches(pattern, value), want));

  const rules: { name: string; rule: any; want: string }[] = [
    { name: 'no from admits anyone', rule: {}, want: 'yes' },
    { name: 'sources are ORed', rule: { from: [{ source: { principals: ['x/ns/a/sa/b'] } }, { source: { namespaces: ['shop'] } }] }, want: 'yes' },
    { name: 'fields of one source are ANDed', rule: { from: [{ source: { namespaces: ['shop'], notPrincipals: ['*/sa/waypoint'] } }] }, want: 'no' },
    { name: 'notNamespaces excludes', rule: { from: [{ source: { notNamespaces: ['shop'] } }] }, want: 'no' },
    { name: 'serviceAccounts "ns/sa"', rule: { from: [{ source: { serviceAccounts: ['shop/waypoint'] } }] }, want: 'yes' },
    { name: 'an IP condition cannot be judged', rule: { from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }, want: 'unknown' },
    { name: 'when source.namespace notValues excludes', rule: { when: [{ key: 'source.namespace', notValues: ['shop'] }] }, want: 'no' },
    { name: 'when on destination.port does not depend on the peer', rule: { when: [{ key: 'destination.port', values: ['80'] }] }, want: 'yes' },
  ];
  for (const r of rules) it(`rule: ${r.name}`, () => assert.equal(ruleAdmits(r.rule, waypoint, 'shop'), r.want));
});
