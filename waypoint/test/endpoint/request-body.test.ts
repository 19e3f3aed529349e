import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { forwardBody } from '../../src/endpoint/request-body.ts';

async function collect(it: AsyncIterable<Buffer>): Promise<string> {
  let out = '';
  for await (const chunk of it) out += chunk.toString();
  return out;
}

describe('forwardBody', () => {
  it('yields the body as it arrives and ends with it', async () => {
    const body = new PassThrough();
    const chunks = forwardBody(body, new AbortController().signal);
    body.write('a');
    assert.equal((await chunks.next()).value?.toString(), 'a');
    const next = chunks.next();
    body.end('b');
    assert.equal((await next).value?.toString(), 'b');
    assert.equal((await chunks.next()).done, true);
  });

  it('stops when the exchange ends, leaving the body open to its owner', async () => {
    const body = new PassThrough();
    const stop = new AbortController();
    const reading = collect(forwardBody(body, stop.signal));
    body.write('partial');
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort();
    assert.equal(await reading, 'partial');
    assert.equal(body.destroyed, false);
  });

  it("throws the body's error", async () => {
    const body = new PassThrough();
    const reading = collect(forwardBody(body, new AbortController().signal));
    body.destroy(new Error('downstream reset'));
    await assert.rejects(reading, /downstream reset/);
  });

  it('throws ERR_ENDPOINT_ABORTED when the body closes before its end', async () => {
    const body = new PassThrough();
    const reading = collect(forwardBody(body, new AbortController().signal));
    body.write('half');
    body.destroy();
    await assert.rejects(reading, { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'DC' });
  });
});
