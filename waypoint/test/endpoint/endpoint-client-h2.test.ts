import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import { HbonePool } from '@ambient/hbone';
import { EndpointClient } from '../../src/endpoint/endpoint-client.ts';
import type { UpstreamRequest } from '../../src/endpoint/endpoint.ts';
import type { EndpointError } from '../../src/endpoint/endpoint-error.ts';
import { endpointFor, readAll, startH2cApp, startZtunnel, until, waypointSource, type App, type Ztunnel } from './endpoint-fixtures.ts';

/** A gRPC message frame: flag 0, 4-byte length, payload. */
function grpcFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

const grpcCall = (method: string, body: UpstreamRequest['body'], signal?: AbortSignal): UpstreamRequest => {
  const req: UpstreamRequest = {
    method: 'POST',
    path: `/reviews.v1.Reviews/${method}`,
    authority: 'reviews.shop.svc.cluster.local:9090',
    headers: { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' },
    body,
  };
  if (signal !== undefined) req.signal = signal;
  return req;
};

describe('EndpointClient over HBONE: HTTP/2 (h2c, gRPC)', () => {
  let app: App | undefined;
  let ztunnel: Ztunnel | undefined;
  let pool: HbonePool;
  let client: EndpointClient;

  const start = async (onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void) => {
    app = await startH2cApp(onStream);
    ztunnel = await startZtunnel();
    pool = new HbonePool();
    client = new EndpointClient({ pool, source: waypointSource });
    return endpointFor(app, ztunnel, 'http2');
  };

  afterEach(async () => {
    await client?.close();
    pool?.close();
    await ztunnel?.close();
    await app?.close();
    app = undefined;
    ztunnel = undefined;
  });

  it('makes a unary gRPC call and hands over the grpc-status trailers', async () => {
    let seen: http2.IncomingHttpHeaders = {};
    const endpoint = await start((stream, headers) => {
      seen = headers;
      let got = Buffer.alloc(0);
      stream.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
      });
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
        stream.end(grpcFrame(`reply to ${got.subarray(5).toString()}`));
      });
    });
    const res = await client.request(endpoint, grpcCall('Get', grpcFrame('review 1')));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/grpc');
    const body = await readAll(res.body);
    assert.equal(body.slice(5), 'reply to review 1');
    assert.deepEqual(await res.trailers, { 'grpc-status': '0', 'grpc-message': 'ok' });
    assert.equal(seen[':authority'], 'reviews.shop.svc.cluster.local:9090');
    assert.equal(seen[':path'], '/reviews.v1.Reviews/Get');
    assert.equal(seen.te, 'trailers');
    assert.equal(seen['grpc-timeout'], '5S');
    assert.equal(ztunnel!.requests[0]!.authority, `127.0.0.1:${app!.port}`);
  });

  // Regression: unary gRPC calls through the waypoint lost their response message (bytes_sent 0,
  // the client saw UNIMPLEMENTED) in about one call in three when the request body was the
  // downstream's stream rather than a buffer.
  it('delivers every unary response message when the request body is a stream, call after call', async () => {
    const endpoint = await start((stream) => {
      let got = Buffer.alloc(0);
      stream.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
      });
      stream.on('end', () => {
        // Headers, message and trailers in one write, as they reach the waypoint when a relay
        // in between coalesces them: undici stopped reading DATA at the trailers.
        const socket = stream.session!.socket;
        socket.cork();
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => {
          stream.sendTrailers({ 'grpc-status': '0' });
          setImmediate(() => socket.uncork());
        });
        stream.end(grpcFrame(`reply to ${got.subarray(5).toString()}`));
      });
    });
    const empty: number[] = [];
    for (let i = 0; i < 30; i++) {
      const body = new PassThrough();
      const pending = client.request(endpoint, grpcCall('Get', body));
      body.end(grpcFrame(`call ${i}`));
      const res = await pending;
      if ((await readAll(res.body)).slice(5) !== `reply to call ${i}`) empty.push(i);
      await res.trailers;
    }
    assert.deepEqual(empty, [], 'calls whose response message was lost');
  });

  it('delivers a server-streaming response message by message, before the call ends', async () => {
    let next: (() => void) | undefined;
    const endpoint = await start((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      let n = 0;
      next = () => {
        n++;
        if (n <= 3) stream.write(grpcFrame(`update ${n}`));
        else stream.end();
      };
      next();
    });
    const res = await client.request(endpoint, grpcCall('Watch', grpcFrame('watch')));
    const messages: string[] = [];
    for await (const chunk of res.body) {
      messages.push((chunk as Buffer).subarray(5).toString());
      next!(); // the server sends the next one only after we saw this one
    }
    assert.deepEqual(messages, ['update 1', 'update 2', 'update 3']);
    assert.deepEqual(await res.trailers, { 'grpc-status': '0' });
  });

  it('streams the request body both ways at once (bidirectional)', async () => {
    const endpoint = await start((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.on('data', (c: Buffer) => stream.write(grpcFrame(`echo ${c.subarray(5).toString()}`)));
      stream.on('end', () => stream.end());
    });
    const requestBody = new PassThrough();
    const pending = client.request(endpoint, grpcCall('Chat', requestBody));
    requestBody.write(grpcFrame('one'));
    const res = await pending;
    const replies = res.body[Symbol.asyncIterator]();
    assert.equal(((await replies.next()).value as Buffer).subarray(5).toString(), 'echo one');
    requestBody.write(grpcFrame('two'));
    assert.equal(((await replies.next()).value as Buffer).subarray(5).toString(), 'echo two');
    requestBody.end();
    assert.equal((await replies.next()).done, true);
    assert.deepEqual(await res.trailers, { 'grpc-status': '0' });
  });

  it('multiplexes concurrent calls on one HBONE stream and one session', async () => {
    const endpoint = await start((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.resume();
      stream.on('end', () => stream.end(grpcFrame('ok')));
    });
    const calls = Array.from({ length: 20 }, async () => {
      const res = await client.request(endpoint, grpcCall('Get', grpcFrame('x')));
      await readAll(res.body);
      return res.trailers;
    });
    for (const trailers of await Promise.all(calls)) assert.equal((await trailers)['grpc-status'], '0');
    assert.equal(ztunnel!.server.stats.streams, 1);
    assert.equal(app!.connections, 1);
  });

  it('opens a new session after maxRequestsPerConnection calls, and closes the used-up one when its calls end', async () => {
    const ok = (stream: http2.ServerHttp2Stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.resume();
      stream.on('end', () => stream.end(grpcFrame('ok')));
    };
    const endpoint = { ...(await start(ok)), maxRequestsPerConnection: 2 };
    for (let i = 0; i < 5; i++) {
      const res = await client.request(endpoint, grpcCall('Get', grpcFrame('x')));
      await readAll(res.body);
      assert.equal((await res.trailers)['grpc-status'], '0');
    }
    assert.equal(ztunnel!.server.stats.streams, 3);
    assert.equal(app!.connections, 3);
    await until(() => app!.open.size === 1, 'the used-up sessions to close');
    // Concurrent calls split the same way: 4 calls, 2 per session.
    const calls = Array.from({ length: 4 }, async () => readAll((await client.request(endpoint, grpcCall('Get', grpcFrame('y')))).body));
    await Promise.all(calls);
    assert.equal(app!.connections, 3 + 2, 'call 6 used up the third session, calls 7-8 a fourth, call 9 opened a fifth');
  });

  it('classifies a stream the app resets mid-response as an upstream remote reset (UR)', async () => {
    const endpoint = await start((stream) => {
      stream.on('error', () => {}); // the app's own side of the reset
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      // destroy() sends RST_STREAM alone; close(code) would end the stream (END_STREAM) first.
      stream.write(grpcFrame('partial'), () => stream.destroy(new Error('app crashed')));
    });
    const res = await client.request(endpoint, grpcCall('Get', grpcFrame('x')));
    const err = (await readAll(res.body).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_RESET');
    assert.equal(err.responseFlag, 'UR');
    assert.equal(err.responseStarted, true);
    await assert.rejects(res.trailers, { code: 'ERR_ENDPOINT_RESET' });
  });

  it('classifies the app dropping its HTTP/2 connection mid-response as a connection termination (UC)', async () => {
    const endpoint = await start((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(grpcFrame('partial'), () => stream.session?.socket.destroy());
    });
    const res = await client.request(endpoint, grpcCall('Get', grpcFrame('x')));
    const err = (await readAll(res.body).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_RESET');
    assert.equal(err.responseFlag, 'UC');
  });

  it('cancels only its own stream when the signal fires; the session carries on', async () => {
    const cancelled: number[] = [];
    let hung = false;
    const endpoint = await start((stream, headers) => {
      if (headers[':path'] === '/reviews.v1.Reviews/Hang') {
        hung = true;
        stream.once('close', () => cancelled.push(stream.rstCode));
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end('fine');
    });
    const controller = new AbortController();
    const hanging = client.request(endpoint, grpcCall('Hang', grpcFrame('x'), controller.signal));
    await until(() => hung, 'the call to reach the app');
    controller.abort(new DOMException('deadline', 'TimeoutError'));
    await assert.rejects(hanging, { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'UT', requestSent: true });
    await until(() => cancelled.length === 1, 'the app to see the stream reset');
    assert.equal(await readAll((await client.request(endpoint, grpcCall('Get', grpcFrame('y')))).body), 'fine');
    assert.equal(ztunnel!.server.stats.streams, 1);
  });

  it('fails calls in flight, streaming or queued, with ERR_ENDPOINT_CLOSED on close()', async () => {
    let arrived = 0;
    const endpoint = await start((stream) => {
      arrived++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(grpcFrame('first'));
    });
    const upload = new PassThrough();
    const streaming = client.request(endpoint, grpcCall('Chat', upload));
    upload.write(grpcFrame('hello'));
    const unary = client.request(endpoint, grpcCall('Get', grpcFrame('x')));
    await until(() => arrived === 2, 'both calls to reach the app');
    const res = await streaming;
    const reading = readAll(res.body).catch((e: unknown) => e);
    await client.close();
    assert.equal(((await reading) as EndpointError).code, 'ERR_ENDPOINT_CLOSED');
    await assert.rejects(res.trailers, { code: 'ERR_ENDPOINT_CLOSED' });
    const other = await unary;
    await assert.rejects(readAll(other.body), { code: 'ERR_ENDPOINT_CLOSED' });
    assert.equal(upload.destroyed, false, 'the downstream body is left to its owner');
  });
});
