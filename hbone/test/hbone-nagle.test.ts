// Regression: HBONE connections ran with Nagle's algorithm on (no TCP_NODELAY on the pool's own
// TCP connection nor on the server's accepted sockets). HTTP/2 writes small frames (window
// updates, headers, the tail of a DATA run), which then waited for the peer's delayed ACK: one
// stream through the tunnel on loopback moved 246-263 MiB/s with the process ~45% idle, 403-444
// MiB/s with TCP_NODELAY (`npm run bench -- hbone`).
import assert from 'node:assert/strict';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ClientHttp2Stream } from 'node:http2';
import { HbonePool } from '../src/hbone-pool.ts';
import { CLIENT_ID, SERVER_ID, clientContext, closeHarness, exchange, startHarness, type Harness } from './hbone-fixtures.ts';

/** Whether Node disabled Nagle on a socket (net.Socket keeps it under a private symbol). */
function noDelayOf(socket: net.Socket): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  assert.ok(key, 'net.Socket records TCP_NODELAY under Symbol(kSetNoDelay) (Node internals changed?)');
  return (socket as unknown as Record<symbol, boolean>)[key];
}

describe('HBONE connections disable Nagle (TCP_NODELAY)', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
  });

  it('on the pool’s own TCP connection and on the server’s accepted sockets', async () => {
    h = await startHarness();
    const accepted: net.Socket[] = [];
    const handle = h.server.handleConnection.bind(h.server);
    h.server.handleConnection = (raw: net.Socket) => {
      accepted.push(raw);
      return handle(raw);
    };
    pool = new HbonePool();
    const stream: Duplex = await pool.connect({
      source: { identity: CLIENT_ID, context: clientContext },
      destination: { ip: '10.0.0.9', port: 80 },
      hboneAddress: { ip: '127.0.0.1', port: h.port },
      expectedIdentities: [SERVER_ID],
    });
    const tlsSocket = (stream as ClientHttp2Stream).session!.socket as unknown as { _parent: net.Socket };
    assert.equal(noDelayOf(tlsSocket._parent), true, 'the pool’s TCP connection');
    assert.equal(await exchange(stream, 'x'), 'echo:x');
    assert.equal(accepted.length, 1);
    assert.equal(noDelayOf(accepted[0]!), true, 'the server’s accepted socket');
  });
});
