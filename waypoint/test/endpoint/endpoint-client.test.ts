import assert from 'node:assert/strict';
import type http from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { HbonePool } from '@ambient/hbone';
import { FakeClock } from '@ambient/api/testing';
import { EndpointClient, type EndpointClientOptions } from '../../src/endpoint/endpoint-client.ts';
import type { UpstreamRequest } from '../../src/endpoint/endpoint.ts';
import type { EndpointError } from '../../src/endpoint/endpoint-error.ts';
import {
  endpointFor,
  OTHER_ID,
  readAll,
  startHttp1App,
  startTcpApp,
  startZtunnel,
  unusedPort,
  until,
  waypointSource,
  WAYPOINT_ID,
  type App,
  type Ztunnel,
} from './endpoint-fixtures.ts';

const get = (path = '/', extra: Partial<UpstreamRequest> = {}): UpstreamRequest => ({
  method: 'GET',
  path,
  authority: 'reviews.shop.svc.cluster.local:9080',
  headers: { 'user-agent': 'test' },
  body: null,
  ...extra,
});

/** Echoes method, path, host and body; `x-upstream-headers` carries the header names it saw. */
const echo: http.RequestListener = (req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => {
    body += c.toString();
  });
  req.on('end', () => {
    res.setHeader('x-upstream-headers', Object.keys(req.headers).sort().join(','));
    res.setHeader('x-host', req.headers.host ?? '');
    res.end(`${req.method} ${req.url} ${body}`);
  });
};

/** An app handler that never answers, counting the requests that reached it. */
function silent(): { handler: http.RequestListener; arrived: () => number } {
  let n = 0;
  return {
    handler: (req) => {
      n++;
      req.resume();
    },
    arrived: () => n,
  };
}

describe('EndpointClient over HBONE: HTTP/1.1', () => {
  let app: App | undefined;
  let ztunnel: Ztunnel | undefined;
  let pool: HbonePool;
  let client: EndpointClient;

  const start = async (handler: http.RequestListener = echo, options: Partial<EndpointClientOptions> = {}) => {
    app = await startHttp1App(handler);
    ztunnel = await startZtunnel();
    pool = new HbonePool();
    client = new EndpointClient({ pool, source: waypointSource, ...options });
    return endpointFor(app, ztunnel);
  };

  afterEach(async () => {
    await client?.close();
    pool?.close();
    await ztunnel?.close();
    await app?.close();
    app = undefined;
    ztunnel = undefined;
  });

  it('sends a GET through the pod ztunnel with its address as the CONNECT authority and the waypoint identity', async () => {
    const endpoint = await start();
    const res = await client.request(endpoint, get('/reviews/1?x=1'));
    assert.equal(res.statusCode, 200);
    assert.equal(await readAll(res.body), 'GET /reviews/1?x=1 ');
    assert.equal(res.headers['x-host'], 'reviews.shop.svc.cluster.local:9080');
    assert.deepEqual(await res.trailers, {});
    assert.equal(ztunnel!.requests.length, 1);
    assert.equal(ztunnel!.requests[0]!.authority, `127.0.0.1:${app!.port}`);
    assert.equal(ztunnel!.requests[0]!.sourceIdentity, WAYPOINT_ID);
  });

  it('sends a POST body given as a Buffer and as a stream', async () => {
    const endpoint = await start();
    const buffered = await client.request(endpoint, get('/a', { method: 'POST', body: Buffer.from('one') }));
    assert.equal(await readAll(buffered.body), 'POST /a one');
    const stream = new PassThrough();
    const pending = client.request(endpoint, get('/b', { method: 'POST', body: stream }));
    stream.write('two ');
    stream.end('parts');
    assert.equal(await readAll((await pending).body), 'POST /b two parts');
  });

  it('drops hop-by-hop headers and the ones Connection names, and never forwards them back', async () => {
    const endpoint = await start((req, res) => {
      res.setHeader('x-upstream-headers', Object.keys(req.headers).sort().join(','));
      res.setHeader('connection', 'x-secret');
      res.setHeader('x-secret', '1');
      res.end();
    });
    const headers = { connection: 'x-private', 'x-private': 'a', 'keep-alive': 'timeout=5', te: 'gzip', 'proxy-connection': 'x', 'x-kept': 'b' };
    const res = await client.request(endpoint, get('/', { headers }));
    await readAll(res.body);
    const seen = String(res.headers['x-upstream-headers']).split(',');
    assert.ok(seen.includes('x-kept'));
    for (const name of ['x-private', 'te', 'proxy-connection']) assert.ok(!seen.includes(name), `${name} reached the app`);
    assert.equal(res.headers['x-secret'], undefined);
    assert.equal(res.headers.connection, undefined);
  });

  it('reuses one HBONE stream for sequential requests (keep-alive)', async () => {
    const endpoint = await start();
    for (let i = 0; i < 20; i++) {
      const res = await client.request(endpoint, get(`/${i}`));
      assert.equal(await readAll(res.body), `GET /${i} `);
      // undici frees an HTTP/1.1 connection one event-loop turn after its response ends (to see
      // a server's FIN first); a request in that same turn gets a second connection. A downstream
      // request arrives as an event of its own, as here.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(ztunnel!.server.stats.streams, 1);
    assert.equal(app!.connections, 1);
  });

  it('opens a new HBONE stream after maxRequestsPerConnection requests, closing the old one with the last', async () => {
    const seen: string[] = [];
    const endpoint = {
      ...(await start((req, res) => {
        seen.push(`${req.url} ${req.headers.connection}`);
        res.end('ok');
      })),
      maxRequestsPerConnection: 2,
    };
    for (let i = 1; i <= 5; i++) {
      assert.equal(await readAll((await client.request(endpoint, get(`/${i}`))).body), 'ok');
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(seen, ['/1 keep-alive', '/2 close', '/3 keep-alive', '/4 close', '/5 keep-alive']);
    assert.equal(ztunnel!.server.stats.streams, 3);
    assert.equal(app!.connections, 3);
    await until(() => app!.open.size === 1, 'the used-up streams to close');
  });

  it('turns keep-alive off with maxRequestsPerConnection 1, and keeps it without a limit (0)', async () => {
    const base = await start();
    for (const [max, streams] of [
      [1, 3],
      [0, 1],
    ] as const) {
      const before = ztunnel!.server.stats.streams;
      for (let i = 0; i < 3; i++) {
        await readAll((await client.request({ ...base, maxRequestsPerConnection: max }, get())).body);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(ztunnel!.server.stats.streams - before, streams, `maxRequestsPerConnection ${max}`);
    }
  });

  it('runs concurrent requests on concurrent streams', async () => {
    // The app answers only once all ten are in flight, so they cannot have been serialized.
    const waiting: http.ServerResponse[] = [];
    const endpoint = await start((req, res) => {
      req.resume();
      waiting.push(res);
      if (waiting.length === 10) for (const [i, r] of waiting.entries()) r.end(`reply ${i}`);
    });
    const replies = await Promise.all(Array.from({ length: 10 }, async () => readAll((await client.request(endpoint, get())).body)));
    assert.equal(new Set(replies).size, 10);
    assert.equal(ztunnel!.server.stats.streams, 10);
  });

  it('queues beyond maxConnectionsPerEndpoint instead of opening more streams', async () => {
    const endpoint = await start(echo, { maxConnectionsPerEndpoint: 2 });
    const replies = await Promise.all(Array.from({ length: 8 }, async (_, i) => readAll((await client.request(endpoint, get(`/${i}`))).body)));
    assert.equal(replies.length, 8);
    assert.ok(ztunnel!.server.stats.streams <= 2, `${ztunnel!.server.stats.streams} streams`);
  });

  it('streams a large response body intact through backpressure', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const endpoint = await start((_req, res) => {
      let n = 0;
      const write = (): void => {
        while (n < 32) {
          n++;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    const res = await client.request(endpoint, get());
    let total = 0;
    for await (const c of res.body) total += (c as Buffer).length;
    assert.equal(total, 32 * chunk.length);
  });

  it('closes an endpoint pool left idle for idleTimeoutMs, and its HBONE stream with it', async () => {
    const clock = new FakeClock(0);
    const endpoint = await start(echo, { timers: clock.timers, idleTimeoutMs: 30_000 });
    await readAll((await client.request(endpoint, get())).body);
    await until(() => clock.pendingDelays().includes(30_000), 'the idle timer');
    clock.advance(29_999);
    assert.equal(client.endpointCount, 1);
    clock.advance(1);
    assert.equal(client.endpointCount, 0);
    await until(() => app!.open.size === 0, 'the idle stream to close at the app');
    assert.equal(await readAll((await client.request(endpoint, get('/again'))).body), 'GET /again ');
    assert.equal(ztunnel!.server.stats.streams, 2);
  });

  it('does not close a pool while a request is in flight', async () => {
    const clock = new FakeClock(0);
    let release: (() => void) | undefined;
    const endpoint = await start(
      (req, res) => {
        req.resume();
        release = () => res.end('late');
      },
      { timers: clock.timers, idleTimeoutMs: 1000 },
    );
    const pending = client.request(endpoint, get());
    await until(() => release !== undefined, 'the request to arrive');
    clock.advance(10_000);
    assert.equal(client.endpointCount, 1);
    release!();
    assert.equal(await readAll((await pending).body), 'late');
  });

  it('fails with ERR_ENDPOINT_CONNECT, nothing sent, when nothing listens for HBONE', async () => {
    const endpoint = await start();
    endpoint.hboneAddress = { ip: '127.0.0.1', port: await unusedPort() };
    const err = (await client.request(endpoint, get()).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_CONNECT');
    assert.equal(err.requestSent, false);
    assert.equal(err.responseFlag, 'UF');
    assert.equal(err.hbone?.outcome, 'connect_failed');
  });

  it('fails with ERR_ENDPOINT_CONNECT and the outcome when the ztunnel cannot reach the app (503)', async () => {
    const endpoint = await start();
    endpoint.address = { ip: '127.0.0.1', port: await unusedPort() };
    const err = (await client.request(endpoint, get()).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_CONNECT');
    assert.equal(err.requestSent, false);
    assert.equal(err.hbone?.outcome, 'unavailable');
    assert.equal(err.hbone?.status, 503);
  });

  it('refuses a peer whose certificate is not the endpoint identity, before any CONNECT', async () => {
    const endpoint = await start();
    endpoint.identity = OTHER_ID;
    const err = (await client.request(endpoint, get()).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_CONNECT');
    assert.equal(err.requestSent, false);
    assert.equal(err.hbone?.outcome, 'identity_mismatch');
    assert.equal(err.hbone?.code, 'ERR_HBONE_IDENTITY_MISMATCH');
    assert.equal(ztunnel!.server.stats.streams, 0);
  });

  it('classifies a connection the app drops before answering as a reset after the request was sent', async () => {
    const endpoint = await start((req) => req.socket.destroy());
    const err = (await client.request(endpoint, get()).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_RESET');
    assert.equal(err.requestSent, true);
    assert.equal(err.responseStarted, false);
    assert.equal(err.responseFlag, 'UC');
  });

  it('errors the body and the trailers when the app drops the connection mid-response', async () => {
    const endpoint = await start((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('0123456789', () => setImmediate(() => res.socket?.destroy()));
    });
    const res = await client.request(endpoint, get());
    assert.equal(res.statusCode, 200);
    const err = (await readAll(res.body).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_RESET');
    assert.equal(err.responseStarted, true);
    assert.equal(err.responseFlag, 'UC');
    await assert.rejects(res.trailers, { code: 'ERR_ENDPOINT_RESET' });
  });

  it('classifies a malformed response as a protocol error (UPE)', async () => {
    app = await startTcpApp((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 two hundred\r\n\r\n'));
    });
    ztunnel = await startZtunnel();
    pool = new HbonePool();
    client = new EndpointClient({ pool, source: waypointSource });
    const err = (await client.request(endpointFor(app, ztunnel), get()).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_PROTOCOL');
    assert.equal(err.responseFlag, 'UPE');
  });

  it('aborts through the signal: DC, or UT for a timeout, and the app sees its connection go', async () => {
    const quiet = silent();
    const endpoint = await start(quiet.handler);
    for (const [i, [reason, flag]] of [
      [new Error('client left'), 'DC'],
      [new DOMException('route timeout', 'TimeoutError'), 'UT'],
    ].entries()) {
      const controller = new AbortController();
      const pending = client.request(endpoint, get('/', { signal: controller.signal }));
      await until(() => quiet.arrived() === i + 1, 'the request to arrive');
      controller.abort(reason);
      const err = (await pending.catch((e: unknown) => e)) as EndpointError;
      assert.equal(err.code, 'ERR_ENDPOINT_ABORTED');
      assert.equal(err.responseFlag, flag);
      assert.equal(err.requestSent, true);
      assert.equal(err.cause, reason);
      await until(() => app!.open.size === 0, 'the app connection to close');
    }
  });

  it('fails at once, sending nothing, when the signal has already fired', async () => {
    const endpoint = await start();
    const err = (await client.request(endpoint, get('/', { signal: AbortSignal.abort() })).catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_ABORTED');
    assert.equal(err.requestSent, false);
    assert.equal(ztunnel!.server.stats.streams, 0);
  });

  it('fails at once when the signal fires while the HBONE connection is still being set up', async () => {
    const clock = new FakeClock(0);
    await start(echo, { timers: clock.timers, idleTimeoutMs: 1000 });
    const blackHole = await startTcpApp(() => {}); // accepts TCP, never answers the TLS hello
    try {
      const endpoint = endpointFor(app!, blackHole);
      const controller = new AbortController();
      const pending = client.request(endpoint, get('/', { signal: controller.signal }));
      await until(() => blackHole.connections === 1, 'the HBONE dial');
      controller.abort(new Error('client left'));
      await assert.rejects(pending, { code: 'ERR_ENDPOINT_ABORTED', requestSent: false });
      assert.deepEqual(clock.pendingDelays(), [], 'undici still holds the request until the dial ends');
    } finally {
      await blackHole.close(); // the dial now fails; the exchange, already failed, takes no notice
    }
    await until(() => clock.pendingDelays().includes(1000), 'the exchange to be released');
  });

  it('aborts the exchange when the reader destroys the response body', async () => {
    const endpoint = await start((_req, res) => {
      res.write('first');
    });
    const res = await client.request(endpoint, get());
    res.body.destroy();
    await assert.rejects(res.trailers, { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'DC' });
    await until(() => app!.open.size === 0, 'the app connection to close');
  });

  it('classifies a failing downstream request body as the downstream gone (DC)', async () => {
    const quiet = silent();
    const endpoint = await start(quiet.handler);
    const body = new Readable({ read() {} });
    const pending = client.request(endpoint, get('/', { method: 'POST', body }));
    body.push('partial');
    await until(() => quiet.arrived() === 1, 'the request to arrive');
    body.destroy(new Error('downstream reset'));
    const err = (await pending.catch((e: unknown) => e)) as EndpointError;
    assert.equal(err.code, 'ERR_ENDPOINT_ABORTED');
    assert.equal(err.responseFlag, 'DC');
  });

  it('fails requests in flight and after close() with ERR_ENDPOINT_CLOSED', async () => {
    const quiet = silent();
    const endpoint = await start(quiet.handler);
    const pending = client.request(endpoint, get());
    await until(() => quiet.arrived() === 1, 'the request to arrive');
    await client.close();
    await assert.rejects(pending, { code: 'ERR_ENDPOINT_CLOSED', requestSent: true });
    await assert.rejects(client.request(endpoint, get()), { code: 'ERR_ENDPOINT_CLOSED', requestSent: false });
    await assert.rejects(client.connectTcp(endpoint), { code: 'ERR_ENDPOINT_CLOSED' });
  });
});

describe('EndpointClient.connectTcp', () => {
  let app: App | undefined;
  let ztunnel: Ztunnel | undefined;
  let pool: HbonePool;
  let client: EndpointClient;
  afterEach(async () => {
    await client?.close();
    pool?.close();
    await ztunnel?.close();
    await app?.close();
  });

  it('hands back the HBONE stream to the endpoint, bytes both ways with half-close', async () => {
    app = await startTcpApp((socket) => {
      let got = '';
      socket.on('data', (c: Buffer) => {
        got += c.toString();
      });
      socket.on('end', () => socket.end(`echo:${got}`));
    });
    ztunnel = await startZtunnel();
    pool = new HbonePool();
    client = new EndpointClient({ pool, source: waypointSource });
    const stream = await client.connectTcp(endpointFor(app, ztunnel));
    stream.end('raw bytes');
    assert.equal(await readAll(stream), 'echo:raw bytes');
  });

  it('fails with ERR_ENDPOINT_CONNECT carrying the HBONE outcome', async () => {
    app = await startTcpApp(() => {});
    ztunnel = await startZtunnel();
    pool = new HbonePool();
    client = new EndpointClient({ pool, source: waypointSource });
    await assert.rejects(client.connectTcp(endpointFor(app, ztunnel, 'http1', OTHER_ID)), (err: EndpointError) => {
      assert.equal(err.code, 'ERR_ENDPOINT_CONNECT');
      assert.equal(err.hbone?.outcome, 'identity_mismatch');
      return true;
    });
  });
});
