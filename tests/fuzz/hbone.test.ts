// Fuzzing the HBONE server (@ambient/hbone createHboneServer) on 127.0.0.1 port 0: raw bytes
// where TLS is expected, then — over a valid mTLS connection with ALPN h2 — malformed HTTP/2
// frames and CONNECT requests with hostile headers. Alongside, a healthy client opens CONNECT
// streams through HbonePool and every one must echo; a stream held open from the start must
// still work at the end, and so must a new one.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { createHboneServer, HbonePool, type HboneServer } from '@ambient/hbone';
import { fuzz, fuzzInputs, fuzzTimeoutMs, startHealthyClient, within } from './fuzz-harness.ts';
import { connectHeadersArb, encodeFrame, frameArb, h2Exchange, headerFrames, type Frame } from './h2-wire.ts';

const CLIENT_ID = 'spiffe://cluster.local/ns/a/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/b/sa/server';
const HANDSHAKE_TIMEOUT_MS = 500;

const ca = createCertificateAuthority({ commonName: 'fuzz mesh root' });
function contextFor(uri: string): tls.SecureContext {
  const leaf = issueCertificate({ ca, commonName: '', uris: [uri] });
  return tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem, ca: ca.certPem, minVersion: 'TLSv1.3' });
}
const clientContext = contextFor(CLIENT_ID);
const serverContext = contextFor(SERVER_ID);

// ---- inputs -----------------------------------------------------------------------------------

/** Bytes where a TLS ClientHello is expected: garbage, and TLS records that lie. */
const rawArb = fc.record({
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 2048 }),
    // A TLS record header of any type, version and length, with a payload shorter or longer.
    fc
      .record({
        type: fc.oneof(fc.constantFrom(20, 21, 22, 23, 24), fc.integer({ min: 0, max: 255 })),
        version: fc.constantFrom(0x0300, 0x0301, 0x0303, 0x0304, 0xffff, 0),
        length: fc.oneof(fc.constantFrom(0, 1, 0x4000, 0x4001, 0x4800, 0xffff), fc.integer({ min: 0, max: 0xffff })),
        payload: fc.uint8Array({ maxLength: 512 }),
      })
      .map(({ type, version, length, payload }) => {
        const head = Buffer.alloc(5);
        head[0] = type;
        head.writeUInt16BE(version, 1);
        head.writeUInt16BE(length, 3);
        return new Uint8Array(Buffer.concat([head, payload]));
      }),
    // A handshake record announcing a ClientHello whose inner length is anything.
    fc.tuple(fc.integer({ min: 0, max: 0xffffff }), fc.uint8Array({ maxLength: 300 })).map(([inner, rest]) => {
      const body = Buffer.concat([Buffer.from([1, inner >> 16, (inner >> 8) & 0xff, inner & 0xff, 3, 3]), rest]);
      const head = Buffer.from([22, 3, 1, body.length >> 8, body.length & 0xff]);
      return new Uint8Array(Buffer.concat([head, body]));
    }),
    // Truncated: the first bytes of a record header only.
    fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => new Uint8Array([22, ...b.subarray(1)])),
  ),
  /** Half-close after writing, or (less often: it costs the timeout) stay silent until the handshake timeout ends it. */
  fin: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

/** After the preface and our SETTINGS: frames of any kind. */
const framesArb = fc.array(frameArb, { minLength: 1, maxLength: 8 });

/** CONNECT-shaped requests with hostile headers, on one stream or on many (over the cap). */
const connectArb = fc.record({
  headers: connectHeadersArb,
  streams: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 90, max: 130 }) }),
  endStream: fc.boolean(),
  /** Stream ids counting up from here (odd, as a client's must be; sometimes even). */
  firstId: fc.constantFrom(1, 2, 3, 101),
});

// ---- one connection per input -----------------------------------------------------------------

/** Sends raw bytes; the server must close the connection (after the handshake timeout at worst). */
function sendRaw(port: number, input: { bytes: Uint8Array; fin: boolean }): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.resume();
  socket.once('connect', () => (input.fin ? socket.end(input.bytes) : socket.write(input.bytes)));
  return within(
    HANDSHAKE_TIMEOUT_MS + 3000,
    `closing a connection that sent ${Buffer.from(input.bytes.subarray(0, 32)).toString('hex')}...`,
    new Promise<void>((resolve) => socket.once('close', () => resolve())),
  ).finally(() => socket.destroy());
}

function tlsH2(port: number): () => Duplex {
  return () => tls.connect({ host: '127.0.0.1', port, secureContext: clientContext, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
}

const describeFrames = (frames: Frame[]): string =>
  frames.map((f) => `${f.type}/${f.flags}/${f.streamId}/${f.payload.length}${f.declaredLength === undefined ? '' : `~${f.declaredLength}`}`).join(' ');

// ---- the suite --------------------------------------------------------------------------------

describe('fuzz: the HBONE server under malformed TLS, HTTP/2 and CONNECT input', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(700);
  let server: HboneServer;
  let port: number;
  let upstream: net.Server;
  let pool: HbonePool;
  let request: Parameters<HbonePool['connect']>[0];
  let held: Duplex;
  let healthy: ReturnType<typeof startHealthyClient>;

  before(async () => {
    upstream = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as net.AddressInfo).port;
    server = createHboneServer({
      context: () => serverContext,
      trustDomain: 'cluster.local',
      rootCertPem: ca.certPem,
      authorize: () => ({ allow: true }),
      connectUpstream: () =>
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true }, () => resolve(s));
          s.once('error', reject);
        }),
      logger: pino({ level: 'silent' }),
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    });
    port = (await server.listen({ port: 0, host: '127.0.0.1' })).port;
    pool = new HbonePool();
    request = {
      source: { identity: CLIENT_ID, context: clientContext },
      destination: { ip: '10.0.0.9', port: 80 },
      hboneAddress: { ip: '127.0.0.1', port },
      expectedIdentities: [SERVER_ID],
    };
    held = await pool.connect(request);
    held.write('held-');
    let n = 0;
    healthy = startHealthyClient(async () => {
      const text = `healthy-${n++}`;
      assert.equal(await within(5000, 'a healthy CONNECT exchange', exchange(await pool.connect(request), text)), text);
    });
  });

  after(async () => {
    await healthy?.stop();
    pool?.close();
    await server?.close();
    await new Promise((r) => upstream?.close(r));
  });

  it('closes every connection that sends bytes other than a TLS handshake', async () => {
    await fuzz('hbone', 'raw TLS records', rawArb, { inputs: Math.round(inputs * 0.4), batch: 64 }, (input) => sendRaw(port, input));
  });

  it('ends or keeps serving every mTLS h2 connection that sends malformed frames', async () => {
    await fuzz('hbone', 'HTTP/2 frames', framesArb, { inputs: Math.round(inputs * 0.3), batch: 16 }, (frames) =>
      h2Exchange(
        tlsH2(port),
        Buffer.concat(frames.map(encodeFrame)),
        frames.every((f) => f.declaredLength === undefined),
        describeFrames(frames),
      ),
    );
  });

  it('answers or resets every CONNECT with hostile headers, on one stream or many', async () => {
    await fuzz('hbone', 'CONNECT headers', connectArb, { inputs: Math.round(inputs * 0.3), batch: 16 }, (c) => {
      const frames = Array.from({ length: c.streams }, (_, i) => headerFrames(c.firstId + 2 * i, c.headers, c.endStream));
      return h2Exchange(tlsH2(port), Buffer.concat(frames), true, `${c.streams} stream(s) of ${JSON.stringify(c.headers).slice(0, 300)}`);
    });
  });

  it('kept the healthy client whole: every request echoed, the held stream and a new one work', async () => {
    const run = await healthy.stop();
    assert.deepEqual(run.errors, [], `the healthy client saw ${run.errors.length} error(s)`);
    assert.ok(run.ok > 0, 'the healthy client made requests');
    console.log(`      healthy client: ${run.ok} CONNECT exchanges, 0 errors`);
    assert.equal(await exchange(held, 'end'), 'held-end');
    assert.equal(await exchange(await pool.connect(request), 'after'), 'after');
  });
});

/** Writes `payload`, half-closes, and collects everything until the peer ends. */
function exchange(stream: Duplex, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    stream.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    stream.once('end', () => resolve(reply));
    stream.once('error', reject);
    stream.end(payload);
  });
}
