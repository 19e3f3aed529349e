import assert from 'node:assert/strict';
import { cidrContains, normalizeIp } from '../../../src/proxy-runtime/state/ip-address.ts';

describe('ip-address', () => {
  it('normalizes ipv4, v4-mapped ipv6 and ipv6 to one canonical text', () => {
    const cases: [string, string | undefined][] = [
      ['10.0.0.1', '10.0.0.1'],
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['::FFFF:10.0.0.1', '10.0.0.1'],
      ['FD00:0000::1', 'fd00::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::', '::'],
      ['1::', '1::'],
      ['fd00:1:2:3:4:5:6:7', 'fd00:1:2:3:4:5:6:7'],
      ['10.0.0.256', undefined],
      ['', undefined],
      ['host', undefined],
    ];
    for (const [input, expected] of cases) assert.equal(normalizeIp(input), expected, input);
  });

  it('tests cidr membership for both families and never across them', () => {
    const cases: [string, number, string, boolean][] = [
      ['10.244.0.0', 16, '10.244.3.4', true],
      ['10.244.0.0', 16, '10.245.0.1', false],
      ['10.244.1.2', 32, '10.244.1.2', true],
      ['10.244.1.2', 32, '10.244.1.3', false],
      ['0.0.0.0', 0, '192.168.1.1', true],
      ['10.0.0.0', 8, '::ffff:10.1.2.3', true],
      ['fd00::', 64, 'fd00::abcd', true],
      ['fd00::', 64, 'fd01::1', false],
      ['10.0.0.0', 8, 'fd00::1', false],
      ['10.0.0.0', 8, 'garbage', false],
    ];
    for (const [address, length, ip, expected] of cases) assert.equal(cidrContains(address, length, ip), expected, `${address}/${length} ∋ ${ip}`);
  });
});
