import assert from 'node:assert/strict';
import { forwardedFor, sourceFacts, unmapIpv4 } from '../../src/server/source-facts.ts';

describe('forwardedFor', () => {
  const cases: Array<[string, string | string[] | undefined, string | undefined]> = [
    ['a quoted IPv4 (what ztunnel sends)', 'for="10.244.1.5"', '10.244.1.5'],
    ['an unquoted IPv4', 'for=10.244.1.5', '10.244.1.5'],
    ['an IPv4 with a port', 'for="10.244.1.5:4711"', '10.244.1.5'],
    ['a bracketed IPv6 (what ztunnel sends)', 'for="[fd00::5]"', 'fd00::5'],
    ['a bracketed IPv6 with a port', 'for="[2001:db8::1]:4711"', '2001:db8::1'],
    ['a bare IPv6, tolerated', 'for="2001:db8::1"', '2001:db8::1'],
    ['the first element is the original client', 'for="10.0.0.1", for="10.0.0.2"', '10.0.0.1'],
    ['other parameters around it', 'proto=http;For="10.0.0.3";by=10.0.0.9', '10.0.0.3'],
    ['an IPv4-mapped IPv6 becomes IPv4', 'for="[::ffff:10.0.0.4]"', '10.0.0.4'],
    ['an obfuscated node is no IP', 'for=_hidden', undefined],
    ['unknown is no IP', 'for=unknown', undefined],
    ['no for parameter', 'by=10.0.0.9', undefined],
    ['absent', undefined, undefined],
    ['empty', '', undefined],
    ['repeated header: the first', ['for="10.0.0.7"', 'for="10.0.0.8"'], '10.0.0.7'],
  ];
  for (const [title, header, expected] of cases) {
    it(title, () => assert.equal(forwardedFor(header), expected));
  }
});

describe('sourceFacts', () => {
  const identity = 'spiffe://cluster.local/ns/frontend/sa/web';

  it('takes the identity and its namespace, and the IP from forwarded', () => {
    assert.deepEqual(sourceFacts({ sourceIdentity: identity, sourceAddress: '192.168.0.2', headers: { forwarded: 'for="10.244.1.5"' } }), {
      identity,
      namespace: 'frontend',
      ip: '10.244.1.5',
    });
  });

  it('falls back to the TCP peer, unmapped from IPv6, without forwarded', () => {
    assert.equal(sourceFacts({ sourceIdentity: identity, sourceAddress: '::ffff:192.168.0.2', headers: {} })?.ip, '192.168.0.2');
  });

  it('is undefined for an identity that is not a workload SPIFFE ID', () => {
    assert.equal(sourceFacts({ sourceIdentity: 'spiffe://cluster.local/other', sourceAddress: '10.0.0.1', headers: {} }), undefined);
  });

  it('leaves real IPv6 peers alone', () => assert.equal(unmapIpv4('fd00::1'), 'fd00::1'));
});
