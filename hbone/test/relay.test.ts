import assert from 'node:assert/strict';
import net from 'node:net';
import { relay } from '../src/relay.ts';

/** A connected TCP pair on loopback (both ends allowHalfOpen). */
async function socketPair(): Promise<{ a: net.Socket; b: net.Socket; close(): Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const a = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const b = await accepted;
  await new Promise((r) => a.once('connect', r));
  // The failure test resets these ends; the relay reports that, the test ends do not care.
  a.on('error', () => {});
  b.on('error', () => {});
  return {
    a,
    b,
    close: () =>
      new Promise<void>((r) => {
        a.destroy();
        b.destroy();
        server.close(() => r());
      }),
  };
}

describe('relay', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function chain() {
    // client ⇄ [down | relay | up] ⇄ app
    const left = await socketPair();
    const right = await socketPair();
    cleanups.push(left.close, right.close);
    return { client: left.a, down: left.b, up: right.a, app: right.b };
  }

  it('copies both ways, passes half-close through and counts bytes', async () => {
    const { client, down, up, app } = await chain();
    const done = relay(down, up);
    let atApp = '';
    app.on('data', (c: Buffer) => {
      atApp += c.toString();
    });
    app.once('end', () => app.end(`got ${atApp.length}`));
    let atClient = '';
    client.on('data', (c: Buffer) => {
      atClient += c.toString();
    });
    const clientEnded = new Promise((r) => client.once('end', r));
    client.end('x'.repeat(100_000));
    await clientEnded;
    assert.equal(atClient, 'got 100000');
    const result = await done;
    assert.deepEqual(result, { sent: 100_000, received: 10 });
  });

  it('applies backpressure: a reader that does not read stops the copy instead of buffering', async () => {
    const { client, down, up, app } = await chain();
    app.pause();
    void relay(down, up);
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 400; i++) client.write(chunk); // 25 MiB offered
    const deadline = Date.now() + 5000;
    while (!down.isPaused() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    // Kernel buffers plus stream high-water marks hold a few MiB at most, never the whole offer.
    assert.ok(up.writableLength < 1024 * 1024, `relay buffered ${up.writableLength} bytes`);
    assert.ok(down.isPaused(), 'the source side is paused while the destination is full');
  });

  it('destroys both sides when one fails and reports the error', async () => {
    const { client, down, up } = await chain();
    const done = relay(down, up);
    client.write('hello');
    up.destroy(new Error('upstream blew up'));
    const result = await done;
    assert.match(result.error?.message ?? '', /upstream blew up/);
    assert.ok(down.destroyed);
    await new Promise((r) => client.once('close', r));
  });
});
