// Regression: close() waited forever for a client that had connected but not finished its
// TLS handshake, because closeAllConnections() does not see such sockets.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startTestServer, type TestServer } from './harness.ts';

describe('api server close', () => {
  let t: TestServer | undefined;
  let socket: Socket | undefined;
  after(async () => {
    socket?.destroy();
    await t?.cleanup();
  });

  it('returns even while a client is mid-handshake', async () => {
    t = await startTestServer();
    const port = Number(new URL(t.server.url).port);
    socket = connect(port, '127.0.0.1');
    await new Promise<void>((ready) => socket!.once('connect', () => ready()));
    // A silent TCP client: the server waits for a ClientHello that never comes.
    const closed = t.server.close().then(() => 'closed');
    const stuck = new Promise((r) => setTimeout(() => r('stuck'), 5_000).unref());
    assert.equal(await Promise.race([closed, stuck]), 'closed');
  });
});
