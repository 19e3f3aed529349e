// The pool's connect timeout runs on its injected timers, like its idle and keepalive timers:
// it bounds TCP and TLS together, so a peer that accepts and never answers the handshake (or a
// black-holed address, tested from a pod netns in ztunnel's pod-socket.test.ts) fails the dial
// as connect_failed instead of holding it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { FakeClock } from '@ambient/api/testing';
import { HboneError } from '../src/hbone-error.ts';
import { HbonePool } from '../src/hbone-pool.ts';
import { CLIENT_ID, SERVER_ID, clientContext } from './hbone-fixtures.ts';

describe('HbonePool connect timeout', function () {
  this.timeout(5000); // real time: the timeout under test is a fake minute
  let pool: HbonePool | undefined;
  let silent: net.Server | undefined;
  const accepted = new Set<net.Socket>();
  afterEach(async () => {
    pool?.close();
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => (silent ? silent.close(() => r()) : r()));
    pool = silent = undefined;
  });

  it('connect_timeout: fails a dial whose peer never answers the TLS handshake as connect_failed at the timeout, on the injected timers', async () => {
    silent = net.createServer((s) => {
      accepted.add(s); // accepted, never read from, never answered
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent!.listen(0, '127.0.0.1', r));
    const clock = new FakeClock(0);
    pool = new HbonePool({ timers: clock.timers, connectTimeoutMs: 60_000 });
    let settled = false;
    const result = pool
      .connect({
        source: { identity: CLIENT_ID, context: clientContext },
        destination: { ip: '10.244.2.7', port: 8080 },
        hboneAddress: { ip: '127.0.0.1', port: (silent.address() as net.AddressInfo).port },
        expectedIdentities: [SERVER_ID],
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      )
      .finally(() => {
        settled = true;
      });
    while (accepted.size === 0) await new Promise((r) => setImmediate(r));
    clock.advance(59_999);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    clock.advance(1);
    const err = await result;
    assert.ok(err instanceof HboneError, String(err));
    assert.equal(err.outcome, 'connect_failed');
    assert.match(err.message, /no tls handshake within 60000 ms/);
    assert.equal(pool.connectionCount, 0);
  });
});
