// Regression: a stream the server closes (a policy change denying a live connection) must
// reach the client as an end of the tunnel, so ztunnel's relay closes the app's socket too.
import assert from 'node:assert/strict';
import net from 'node:net';
import { finished } from 'node:stream';
import { HbonePool } from '../src/hbone-pool.ts';
import { relay } from '../src/relay.ts';
import { CLIENT_ID, clientContext, closeHarness, SERVER_ID, startHarness, type Harness } from './hbone-fixtures.ts';

describe('hbone: a server-side close of a live stream', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
  });

  it('ends the client stream and, through the relay, the downstream socket', async () => {
    h = await startHarness();
    pool = new HbonePool();
    const stream = await pool.connect({
      source: { identity: CLIENT_ID, context: clientContext },
      destination: { ip: '10.244.2.7', port: 8080 },
      hboneAddress: { ip: '127.0.0.1', port: h.port },
      expectedIdentities: [SERVER_ID],
    });
    // A downstream socket pair standing in for the captured app connection.
    const listener = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const appSide = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    const captured = await new Promise<net.Socket>((r) => listener.once('connection', r));
    const relayed = relay(captured, stream);
    appSide.write('hello');
    for (let i = 0; i < 100 && h.server.activeStreams.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.server.activeStreams.length, 1);
    const appClosed = new Promise<void>((r) => finished(appSide, () => r()));
    h.server.activeStreams[0]!.close('policy_closed', 'denied by policy');
    const result = await relayed;
    assert.ok(result.error, 'the relay ended because the tunnel was reset');
    await appClosed;
    appSide.destroy();
    listener.close();
  });
});
