import assert from 'node:assert/strict';
import { HboneError } from '@ambient/hbone';
import {
  CLIENT_ID,
  CLIENT_POD_IP,
  describeRequest,
  exchange,
  type H2Response,
  h2cSession,
  h2Request,
  type Harness,
  Http1Reader,
  nextData,
  startHarness,
  svc,
  until,
} from './server-fixtures.ts';

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nhost: reviews.shop\r\n${extra}\r\n`;

function grpcFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

describe('waypoint server: HTTP, h2c and TCP inside HBONE CONNECT streams', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  describe('HTTP/1.1', () => {
    it('serves two requests on one CONNECT stream (keep-alive)', async () => {
      h = await startHarness();
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write(get('/one'));
      const first = await reader.response();
      assert.equal(first.status, 200);
      assert.deepEqual(JSON.parse(first.body), { method: 'GET', url: '/one', body: '', protocol: 'http1', target: 'http' });
      stream.write('POST /two HTTP/1.1\r\nhost: reviews.shop\r\ncontent-length: 5\r\n\r\nhello');
      const second = await reader.response();
      assert.deepEqual(JSON.parse(second.body), { method: 'POST', url: '/two', body: 'hello', protocol: 'http1', target: 'http' });
      assert.equal(h.records.length, 0, 'both requests rode the same, still open, CONNECT stream');
      assert.equal(h.server.hbone.stats.streams, 1);
    });

    it('still answers a request whose client half-closed right after sending it', async () => {
      // Answer only once the client's FIN has reached the server, so the FIN cannot be outrun.
      h = await startHarness({
        onRequest: (req, res, conn) => {
          const inbound = req.socket;
          if (inbound.readableEnded) describeRequest(req, res, conn);
          else inbound.once('end', () => describeRequest(req, res, conn));
        },
      });
      const stream = await h.connect(svc.http);
      const reply = await exchange(stream, get('/fin'));
      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(reply, /"url":"\/fin"/);
    });

    it('answers a malformed request line 400 on that stream only, while a parallel stream keeps working', async () => {
      h = await startHarness();
      const healthy = await h.connect(svc.http);
      const healthyReader = new Http1Reader(healthy);
      healthy.write(get('/before'));
      assert.equal((await healthyReader.response()).status, 200);

      const broken = await h.connect(svc.http);
      const brokenReader = new Http1Reader(broken);
      broken.write('GET /a path with spaces HTTP/1.1\r\nhost: x\r\n\r\n');
      const rejected = await brokenReader.response();
      assert.equal(rejected.status, 400);
      assert.equal(rejected.headers.connection, 'close');
      await brokenReader.end();
      broken.end();
      assert.equal(h.rejected.length, 1);
      assert.equal(h.rejected[0]!.status, 400);

      healthy.write(get('/after'));
      const after = await healthyReader.response();
      assert.equal(after.status, 200);
      assert.match(after.body, /"url":"\/after"/);
    });

    it('answers 400 to an HTTP/1.1 request without Host, and reports it', async () => {
      h = await startHarness();
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write('GET / HTTP/1.1\r\n\r\n');
      assert.equal((await reader.response()).status, 400);
      await reader.end();
      assert.deepEqual(
        h.rejected.map((r) => [r.status, r.reason]),
        [[400, 'missing_host']],
      );
      assert.equal(h.conns.length, 0, 'the handler never saw it');
    });

    it('answers 431 to headers over maxHeaderSize', async () => {
      h = await startHarness({}, { maxHeaderSize: 4096 });
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write(get('/big', `x-big: ${'a'.repeat(5000)}\r\n`));
      assert.equal((await reader.response()).status, 431);
      assert.deepEqual(
        h.rejected.map((r) => [r.status, r.reason]),
        [[431, 'HPE_HEADER_OVERFLOW']],
      );
    });

    it('answers 500 when the handler throws, and the stream serves the next request', async () => {
      let calls = 0;
      h = await startHarness({
        onRequest: (_req, res) => {
          if (calls++ === 0) throw new TypeError('handler bug');
          res.end('fine');
        },
      });
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write(get('/a'));
      assert.equal((await reader.response()).status, 500);
      stream.write(get('/b'));
      assert.equal((await reader.response()).status, 200);
    });
  });

  describe('h2c', () => {
    it('serves HTTP/2 requests, several on one stream', async () => {
      h = await startHarness();
      const session = h2cSession(await h.connect(svc.grpc));
      const [a, b] = await Promise.all([
        h2Request(session, { ':method': 'POST', ':path': '/a' }, 'body-a'),
        h2Request(session, { ':method': 'GET', ':path': '/b' }),
      ]);
      assert.equal(a.status, 200);
      assert.deepEqual(JSON.parse(a.body.toString()), { method: 'POST', url: '/a', body: 'body-a', protocol: 'http2', target: 'grpc' });
      assert.deepEqual(JSON.parse(b.body.toString()).url, '/b');
      session.close();
    });

    it('carries a gRPC request and its trailers', async () => {
      h = await startHarness();
      const session = h2cSession(await h.connect(svc.grpc));
      const res: H2Response = await h2Request(
        session,
        { ':method': 'POST', ':path': '/shop.Reviews/Get', 'content-type': 'application/grpc', te: 'trailers' },
        grpcFrame('request'),
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/grpc');
      assert.equal(res.body.subarray(5).toString(), 'reply to /shop.Reviews/Get');
      assert.equal(res.trailers?.['grpc-status'], '0');
      assert.equal(res.trailers?.['grpc-message'], 'ok');
      session.close();
    });

    it('a session that sends garbage after the preface fails alone; a parallel session keeps working', async () => {
      h = await startHarness();
      const healthy = h2cSession(await h.connect(svc.grpc));
      assert.equal((await h2Request(healthy, { ':path': '/before' })).status, 200);
      const broken = await h.connect(svc.grpc);
      broken.on('error', () => {});
      let received = Buffer.alloc(0);
      broken.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
      });
      const ended = new Promise<void>((resolve) => broken.once('end', () => resolve()));
      broken.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      broken.write(Buffer.alloc(64, 0xff));
      await ended;
      broken.end();
      // The server's SETTINGS, then a GOAWAY (type 7) with FRAME_SIZE_ERROR (6) for the oversized frame.
      const goaway = received.indexOf(Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x00]));
      assert.ok(goaway > 0, `a GOAWAY frame in ${received.toString('hex')}`);
      assert.equal((await h2Request(healthy, { ':path': '/after' })).status, 200);
      healthy.close();
    });

    it('answers 431 to a header list over maxHeaderSize, and the session serves the next request', async () => {
      h = await startHarness({}, { maxHeaderSize: 4096 });
      const session = h2cSession(await h.connect(svc.grpc));
      const big = await h2Request(session, { ':path': '/big', 'x-big': 'a'.repeat(5000) });
      assert.equal(big.status, 431);
      const next = await h2Request(session, { ':path': '/next' });
      assert.equal(next.status, 200);
      assert.deepEqual(
        h.rejected.map((r) => [r.status, r.conn.protocol]),
        [[431, 'http2']],
      );
      session.close();
    });
  });

  describe('TCP', () => {
    it('hands a port declared TCP to onTcp as bytes, even when they look like HTTP', async () => {
      h = await startHarness();
      const reply = await exchange(await h.connect(svc.tcp), get('/not-parsed'));
      assert.equal(reply, `tcp:${get('/not-parsed')}`);
      assert.equal(h.conns[0]!.protocol, 'tcp');
    });
  });

  describe('protocol detection on an undeclared port', () => {
    it('serves an HTTP/1.1 request line as HTTP/1.1', async () => {
      h = await startHarness();
      const stream = await h.connect(svc.undeclared);
      const reader = new Http1Reader(stream);
      stream.write(get('/sniffed'));
      const res = await reader.response();
      assert.equal(JSON.parse(res.body).protocol, 'http1');
    });

    it('serves the HTTP/2 preface as h2c', async () => {
      h = await startHarness();
      const session = h2cSession(await h.connect(svc.undeclared));
      const res = await h2Request(session, { ':path': '/sniffed' });
      assert.equal(JSON.parse(res.body.toString()).protocol, 'http2');
      session.close();
    });

    it('relays anything else as TCP, bytes intact', async () => {
      h = await startHarness();
      const reply = await exchange(await h.connect(svc.undeclared), 'PING redis\r\n');
      assert.equal(reply, 'tcp:PING redis\r\n');
      assert.equal(h.conns[0]!.protocol, 'tcp');
    });

    it('relays a stream whose bytes are undecided at EOF as TCP, bytes intact', async () => {
      h = await startHarness();
      assert.equal(await exchange(await h.connect(svc.undeclared), 'GE'), 'tcp:GE');
    });

    it('serves a silent client as TCP once the sniff timeout passes (server-first protocols)', async () => {
      h = await startHarness({}, { sniffTimeoutMs: 100 });
      const stream = await h.connect(svc.undeclared);
      await until(() => h!.server.liveStreams === 1, 'the stream to be sniffed');
      const greeting = nextData(stream);
      h.clock.advance(99);
      assert.equal(h.conns.length, 0, 'still waiting for the client');
      h.clock.advance(1);
      assert.equal(await greeting, 'tcp:');
      assert.equal(h.conns[0]!.protocol, 'tcp');
    });

    it('a port declared HTTP picks h2c from the preface (a gRPC client on a port named http)', async () => {
      h = await startHarness();
      const session = h2cSession(await h.connect(svc.http));
      const res = await h2Request(session, { ':path': '/auto' });
      assert.equal(JSON.parse(res.body.toString()).protocol, 'http2');
      session.close();
    });
  });

  describe('refusals and source facts', () => {
    it('refuses a CONNECT to a target it does not serve with 400 unknown_destination', async () => {
      h = await startHarness();
      await assert.rejects(h.connect(svc.unknown), (err: unknown) => err instanceof HboneError && err.code === 'ERR_HBONE_BAD_REQUEST');
      await until(() => h!.records.length === 1, 'the refusal record');
      assert.equal(h.records[0]!.outcome, 'unknown_destination');
      assert.equal(h.records[0]!.status, 400);
    });

    it('gives handlers the source identity, its namespace and the forwarded pod IP', async () => {
      h = await startHarness();
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write(get('/who'));
      await reader.response();
      const conn = h.conns[0]!;
      assert.deepEqual(conn.source, { identity: CLIENT_ID, namespace: 'frontend', ip: CLIENT_POD_IP });
      assert.deepEqual(conn.target, svc.http);
      assert.equal(conn.served.name, 'http');
      assert.match(String(conn.connectHeaders.traceparent), /^00-/);
    });

    it('takes the source IP from the TCP peer when the CONNECT has no forwarded header', async () => {
      h = await startHarness();
      await exchange(await h.connect(svc.tcp, { forwarded: '' }), 'x');
      assert.equal(h.conns[0]!.source.ip, '127.0.0.1');
    });
  });
});
