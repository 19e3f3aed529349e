import assert from 'node:assert/strict';
import { formatSocketAddress, isSocketAddress, parseSocketAddress } from '../src/socket-address.ts';

describe('socket addresses', () => {
  it('brackets ipv6 in socket addresses', () => {
    assert.equal(formatSocketAddress({ ip: '10.0.0.1', port: 80 }), '10.0.0.1:80');
    assert.equal(formatSocketAddress({ ip: 'fd00::1', port: 80 }), '[fd00::1]:80');
  });

  it('parses only literal ips with a port in range, and round-trips what it formats', () => {
    for (const a of [
      { ip: '10.0.0.1', port: 80 },
      { ip: 'fd00::1', port: 65535 },
    ])
      assert.deepEqual(parseSocketAddress(formatSocketAddress(a)), a);
    for (const text of ['example.com:80', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', 'fd00::1:80', '[10.0.0.1]:80'])
      assert.equal(parseSocketAddress(text), undefined, text);
  });

  it('tells an address HBONE can carry from one it cannot', () => {
    assert.equal(isSocketAddress({ ip: '10.0.0.1', port: 80 }), true);
    assert.equal(isSocketAddress({ ip: 'shop.svc', port: 80 }), false);
    assert.equal(isSocketAddress({ ip: '10.0.0.1', port: 0 }), false);
  });
});
