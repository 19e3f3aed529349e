import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { PipeEnd } from '../../src/server/pipe-end.ts';

function collect(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}

// Not events.once: it rejects on 'error', and some of these ends close with one.
const closed = (stream: Duplex): Promise<void> => new Promise((resolve) => (stream.closed ? resolve() : stream.once('close', () => resolve())));

describe('PipeEnd', () => {
  it('carries bytes both ways, and a half-close leaves the other direction open', async () => {
    const [a, b] = PipeEnd.pair();
    const atB = collect(b);
    a.end('request');
    assert.equal(await atB, 'request');
    const atA = collect(a);
    b.write('reply after the peer ended');
    b.end();
    assert.equal(await atA, 'reply after the peer ended');
    await Promise.all([closed(a), closed(b)]);
  });

  it('finishes an end at once, without waiting for the peer to read it (a FIN)', async () => {
    const [a, b] = PipeEnd.pair();
    a.end('unread');
    await once(a, 'finish');
    assert.equal(b.readableLength, 'unread'.length);
  });

  it('shows the observer each chunk and the EOF before anyone reads them', async () => {
    const [a, b] = PipeEnd.pair();
    const seen: Array<string | null> = [];
    b.observe((chunk) => seen.push(chunk === null ? null : chunk.toString()));
    a.write('one');
    a.end('two');
    await once(a, 'finish');
    assert.deepEqual(seen, ['one', 'two', null]);
    assert.equal(await collect(b), 'onetwo', 'observing consumed nothing');
  });

  it('a side destroyed without an error is a closed socket: the peer reads what was sent, then EOF, and its writes are dropped', async () => {
    const [a, b] = PipeEnd.pair();
    b.write('last words');
    b.destroy();
    assert.equal(await collect(a), 'last words');
    a.end('into the void');
    await closed(a);
    assert.equal(a.errored, null);
  });

  it('a side destroyed with an error destroys its peer with that error', async () => {
    const [a, b] = PipeEnd.pair();
    a.on('error', () => {});
    b.on('error', () => {});
    const boom = new Error('boom');
    b.destroy(boom);
    await closed(a);
    assert.equal(a.errored, boom);
  });

  it('releases the peer write a destroyed side was holding (no writer stays stuck)', async () => {
    const [a, b] = PipeEnd.pair();
    let written = false;
    a.write('held until b reads', () => {
      written = true;
    });
    b.destroy();
    await closed(b);
    assert.ok(written);
  });

  it('applies backpressure: the writer waits for the reader', async () => {
    const [a, b] = PipeEnd.pair();
    const big = Buffer.alloc(64 * 1024);
    let accepted = true;
    for (let i = 0; i < 8 && accepted; i++) accepted = a.write(big);
    assert.equal(accepted, false, 'the writer is told to wait while nobody reads');
    const drained = once(a, 'drain');
    b.resume();
    await drained;
  });
});
