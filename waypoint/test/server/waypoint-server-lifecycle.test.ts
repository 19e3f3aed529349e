// Timers (headers, idle, linger) on fake time, and close(): drain, refuse, cut.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { HboneError } from '@ambient/hbone';
import type { WaypointResponse } from '../../src/server/inbound-connection.ts';
import { h2cSession, h2Request, type Harness, Http1Reader, nextData, startHarness, svc, until } from './server-fixtures.ts';

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: reviews.shop\r\n\r\n`;

describe('waypoint server: timeouts and close', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  describe('HTTP/1.1 timers', () => {
    it('answers 408 when a request has begun and its headers are not complete in headersTimeoutMs', async () => {
      h = await startHarness({}, { headersTimeoutMs: 1000, idleTimeoutMs: 60_000 });
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write('GET /slow HTTP/1.1\r\nhost: reviews.shop\r\n');
      await until(() => h!.clock.pendingDelays().includes(1000), 'the header timer');
      h.clock.advance(999);
      assert.equal(h.rejected.length, 0);
      h.clock.advance(1);
      const res = await reader.response();
      assert.equal(res.status, 408);
      assert.deepEqual(
        h.rejected.map((r) => [r.status, r.reason]),
        [[408, 'headers_timeout']],
      );
    });

    it('ends a keep-alive stream idle for idleTimeoutMs, and the HBONE record is ok once the client ends too', async () => {
      h = await startHarness({}, { idleTimeoutMs: 30_000 });
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write(get('/once'));
      assert.equal((await reader.response()).status, 200);
      await until(() => h!.clock.pendingDelays().includes(30_000), 'the idle timer');
      h.clock.advance(29_999);
      assert.equal(reader.ended, false);
      h.clock.advance(1);
      assert.equal(await reader.end(), '', 'a FIN, no bytes');
      stream.end();
      await until(() => h!.records.length === 1, 'the stream record');
      assert.equal(h.records[0]!.outcome, 'ok');
    });

    it('cuts a stream the client keeps open lingerMs after the waypoint ended it', async () => {
      h = await startHarness({}, { idleTimeoutMs: 1000, lingerMs: 500 });
      const stream = await h.connect(svc.http);
      stream.on('error', () => {});
      const reader = new Http1Reader(stream);
      stream.write(get('/once'));
      await reader.response();
      await until(() => h!.clock.pendingDelays().includes(1000), 'the idle timer');
      h.clock.advance(1000);
      await reader.end();
      await until(() => h!.clock.pendingDelays().includes(500), 'the linger timer');
      h.clock.advance(500);
      await until(() => h!.records.length === 1, 'the stream record');
      assert.equal(h.records[0]!.outcome, 'reset');
      assert.match(h.records[0]!.error ?? '', /did not end the stream within 500 ms/);
    });
  });

  describe('h2c timers', () => {
    it('sends GOAWAY to a session with no open stream for idleTimeoutMs', async () => {
      h = await startHarness({}, { idleTimeoutMs: 30_000 });
      const session = h2cSession(await h.connect(svc.grpc));
      assert.equal((await h2Request(session, { ':path': '/once' })).status, 200);
      await until(() => h!.clock.pendingDelays().includes(30_000), 'the idle timer');
      const goaway = new Promise((resolve) => session.once('goaway', resolve));
      h.clock.advance(30_000);
      await goaway;
      await until(() => h!.records.length === 1, 'the stream record');
      assert.equal(h.records[0]!.outcome, 'ok');
    });
  });

  describe('close()', () => {
    it('refuses new CONNECTs, lets an in-flight request finish with connection: close, then resolves', async () => {
      let release: (() => void) | undefined;
      h = await startHarness({
        onRequest: (_req, res: WaypointResponse) => {
          release = () => (res as ServerResponse).end('done');
        },
      });
      const stream = await h.connect(svc.http);
      const reader = new Http1Reader(stream);
      stream.write(get('/in-flight'));
      await until(() => release !== undefined, 'the request to reach the handler');

      let closed = false;
      const closing = h.server.close().then(() => {
        closed = true;
      });
      await assert.rejects(h.connect(svc.http), (err: unknown) => err instanceof HboneError && err.code === 'ERR_HBONE_UNAVAILABLE');
      assert.equal(closed, false);

      release!();
      const res = await reader.response();
      assert.equal(res.status, 200);
      assert.equal(res.headers.connection, 'close');
      await reader.end();
      stream.end();
      await closing;
      assert.equal(h.server.liveStreams, 0);
      assert.ok(h.records.some((r) => r.outcome === 'ok'));
    });

    it('ends idle keep-alive streams at once and sends GOAWAY to h2c sessions', async () => {
      h = await startHarness();
      const http1 = await h.connect(svc.http);
      const reader = new Http1Reader(http1);
      http1.write(get('/idle'));
      await reader.response();
      const session = h2cSession(await h.connect(svc.grpc));
      await h2Request(session, { ':path': '/idle' });
      const goaway = new Promise((resolve) => session.once('goaway', resolve));
      const closing = h.server.close();
      await reader.end();
      http1.end();
      await goaway;
      await closing;
    });

    it('cuts TCP streams still open when drainTimeoutMs runs out', async () => {
      h = await startHarness({}, { drainTimeoutMs: 2000 });
      const stream = await h.connect(svc.tcp);
      stream.on('error', () => {});
      assert.equal(await nextData(stream), 'tcp:');
      let closed = false;
      const closing = h.server.close().then(() => {
        closed = true;
      });
      await until(() => h!.clock.pendingDelays().includes(2000), 'the drain deadline');
      stream.write('still talking');
      assert.equal(await nextData(stream), 'still talking', 'a TCP stream keeps flowing while the server drains');
      assert.equal(closed, false);
      h.clock.advance(2000);
      await closing;
      await until(() => h!.records.length === 1, 'the stream record');
      assert.equal(h.records[0]!.outcome, 'reset');
      assert.match(h.records[0]!.error ?? '', /still open after 2000 ms/);
    });

    it('ends a stream still waiting for its first bytes', async () => {
      h = await startHarness();
      const stream = await h.connect(svc.http);
      await until(() => h!.server.liveStreams === 1, 'the stream');
      const ended = new Promise<void>((resolve) =>
        stream.once('end', () => {
          stream.end();
          resolve();
        }),
      );
      stream.resume();
      await h.server.close();
      await ended;
    });
  });
});
