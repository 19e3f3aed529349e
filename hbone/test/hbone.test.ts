import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { HbonePool, type HboneSource } from '../src/hbone-pool.ts';
import { HboneError } from '../src/hbone-error.ts';
import type { SocketAddress } from '../src/socket-address.ts';
import type { ConnectionRefusal } from '../src/hbone-server.ts';
import {
  CLIENT_ID,
  SERVER_ID,
  clientContext,
  closeHarness,
  exchange,
  meshCa,
  serverContext,
  startHarness,
  workloadContext,
  type Harness,
} from './hbone-fixtures.ts';

const source: HboneSource = { identity: CLIENT_ID, ip: '10.244.1.5', context: clientContext };

function target(h: Harness, overrides: { expected?: string[]; source?: HboneSource; destination?: SocketAddress } = {}) {
  return {
    source: overrides.source ?? source,
    destination: overrides.destination ?? { ip: '10.244.2.7', port: 8080 },
    hboneAddress: { ip: '127.0.0.1', port: h.port },
    expectedIdentities: overrides.expected ?? [SERVER_ID],
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<HboneError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HboneError, `expected an HboneError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** A raw HTTP/2 client with a mesh certificate, to send what the pool never would. */
async function rawSession(port: number, context = clientContext): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () => tls.connect({ host: '127.0.0.1', port, secureContext: context, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
  });
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

function statusOf(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' });
    req.on('response', (h) => {
      resolve(Number(h[':status']));
      req.close();
    });
    req.on('error', reject);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('HBONE pool and server', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    pool = undefined;
    await closeHarness(h);
    h = undefined;
  });

  it('carries data both ways through a CONNECT, with half-close reaching the app', async () => {
    h = await startHarness();
    pool = new HbonePool();
    const stream = await pool.connect(target(h));
    // The app replies only after it has seen our FIN, so the reply proves half-close end to end.
    assert.equal(await exchange(stream, 'hello'), 'echo:hello');
    assert.deepEqual(h.echo.received, ['hello']);
    assert.equal(h.requests.length, 1);
    assert.equal(h.requests[0]!.sourceIdentity, CLIENT_ID);
    assert.equal(h.requests[0]!.authority, '10.244.2.7:8080');
    assert.deepEqual(h.requests[0]!.target, { ip: '10.244.2.7', port: 8080 });
  });

  it('sends traceparent, baggage and forwarded headers that reach authorize', async () => {
    h = await startHarness();
    pool = new HbonePool();
    await exchange(await pool.connect(target(h)), 'a');
    await exchange(await pool.connect(target(h)), 'b');
    const [first, second] = h.requests;
    assert.match(String(first!.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(first!.headers.traceparent, second!.headers.traceparent, 'a new trace per connection');
    assert.equal(first!.headers.baggage, 'k8s.namespace.name=a');
    assert.equal(first!.headers.forwarded, 'for="10.244.1.5"');
  });

  it('reuses one TLS connection for several streams and opens a second at the stream cap', async () => {
    h = await startHarness();
    pool = new HbonePool({ maxStreamsPerConnection: 2 });
    for (const payload of ['1', '2', '3']) assert.equal(await exchange(await pool.connect(target(h)), payload), `echo:${payload}`);
    assert.equal(h.server.stats.connections, 1, 'sequential streams share a connection');
    const held = await Promise.all([pool.connect(target(h)), pool.connect(target(h)), pool.connect(target(h))]);
    assert.equal(h.server.stats.connections, 2, 'the third concurrent stream needs a second connection');
    assert.equal(pool.connectionCount, 2);
    const replies = await Promise.all(held.map((s, i) => exchange(s, `p${i}`)));
    assert.deepEqual(replies, ['echo:p0', 'echo:p1', 'echo:p2']);
  });

  it('keys the pool by source identity: another identity gets its own connection', async () => {
    h = await startHarness();
    pool = new HbonePool();
    await exchange(await pool.connect(target(h)), 'a');
    const other = { identity: 'spiffe://cluster.local/ns/a/sa/other', context: workloadContext('spiffe://cluster.local/ns/a/sa/other') };
    await exchange(await pool.connect(target(h, { source: other })), 'b');
    assert.equal(h.server.stats.connections, 2);
    assert.equal(h.requests[1]!.sourceIdentity, 'spiffe://cluster.local/ns/a/sa/other');
  });

  it('refuses on the client a server whose SPIFFE ID is not the expected one', async () => {
    h = await startHarness();
    pool = new HbonePool();
    const err = await rejectsWith(pool.connect(target(h, { expected: ['spiffe://cluster.local/ns/b/sa/someone-else'] })), 'ERR_HBONE_IDENTITY_MISMATCH');
    assert.match(err.message, /spiffe:\/\/cluster\.local\/ns\/b\/sa\/y/);
    assert.equal(h.requests.length, 0);
  });

  // Regression: when the server had no certificate to present (none issued yet, or expired and
  // not refreshed), the connection was dropped with an error log only: not counted, not reported
  // to the caller's refusal callback, the peer unnamed.
  it('refuses a connection it has no certificate for: counted and reported as no_certificate, and serves again once it has one', async () => {
    let cert: tls.SecureContext | undefined;
    const refusals: ConnectionRefusal[] = [];
    h = await startHarness({
      context: () => {
        if (cert === undefined) throw new Error('no valid certificate for the destination');
        return cert;
      },
      onConnectionRefused: (r) => refusals.push(r),
    });
    pool = new HbonePool();
    await assert.rejects(pool.connect(target(h)), HboneError);
    await until(() => h!.server.stats.refused.no_certificate === 1, 'the refusal to be counted');
    assert.equal(refusals[0]?.outcome, 'no_certificate');
    assert.match(refusals[0]!.detail, /no valid certificate/);
    assert.match(refusals[0]!.peer, /127\.0\.0\.1/);
    cert = serverContext;
    assert.equal(await exchange(await pool.connect(target(h)), 'again'), 'echo:again');
  });

  it('refuses a client certificate from another CA', async () => {
    h = await startHarness();
    pool = new HbonePool();
    const foreignCa = createCertificateAuthority({ commonName: 'foreign root' });
    const foreign = { identity: CLIENT_ID, context: workloadContext(CLIENT_ID, foreignCa, meshCa.certPem) };
    await assert.rejects(pool.connect(target(h, { source: foreign })), HboneError);
    await until(() => h!.server.stats.refused.untrusted_chain === 1, 'the refusal to be counted');
    assert.equal(h.requests.length, 0);
  });

  it('refuses a client certificate that is not for client authentication (the server read no TLS verdict)', async () => {
    // Signed by the mesh root, in date, one SPIFFE ID: only its extended key usage (serverAuth
    // alone) says it may not authenticate a client. OpenSSL's verification knows; a hand-made
    // server-side TLSSocket never asks it unless the server does.
    h = await startHarness();
    pool = new HbonePool();
    const leaf = issueCertificate({ ca: meshCa, commonName: '', uris: [CLIENT_ID], isClient: false });
    const serverOnly = {
      identity: CLIENT_ID,
      context: tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem, ca: meshCa.certPem, minVersion: 'TLSv1.3' }),
    };
    await assert.rejects(pool.connect(target(h, { source: serverOnly })), HboneError);
    await until(() => h!.server.stats.refused.untrusted_chain === 1, 'the refusal to be counted');
    assert.equal(h.requests.length, 0);
  });

  it('refuses a client certificate from another trust domain', async () => {
    h = await startHarness();
    pool = new HbonePool();
    const id = 'spiffe://other.example/ns/a/sa/x';
    await assert.rejects(pool.connect(target(h, { source: { identity: id, context: workloadContext(id) } })), HboneError);
    await until(() => h!.server.stats.refused.foreign_trust_domain === 1, 'the refusal to be counted');
  });

  it('refuses an expired client certificate', async () => {
    // The certificate lives an hour; the server's clock is two hours ahead.
    h = await startHarness({ now: () => Date.now() + 2 * 3600_000 });
    pool = new HbonePool();
    const expired = { identity: CLIENT_ID, context: workloadContext(CLIENT_ID, meshCa, meshCa.certPem, 3600) };
    await assert.rejects(pool.connect(target(h, { source: expired })), HboneError);
    await until(() => h!.server.stats.refused.untrusted_chain === 1, 'the refusal to be counted');
  });

  it('refuses a client without a certificate', async () => {
    h = await startHarness();
    pool = new HbonePool();
    const anonymous = { identity: CLIENT_ID, context: tls.createSecureContext({ ca: meshCa.certPem, minVersion: 'TLSv1.3' }) };
    await assert.rejects(pool.connect(target(h, { source: anonymous })), HboneError);
    await until(() => h!.server.stats.refused.tls_handshake === 1, 'the refusal to be counted');
  });

  it('answers 400 to a request that is not CONNECT and to an authority that is not ip:port', async () => {
    h = await startHarness();
    const session = await rawSession(h.port);
    try {
      assert.equal(await statusOf(session, { ':method': 'GET', ':path': '/' }), 400);
      assert.equal(await statusOf(session, { ':method': 'CONNECT', ':authority': 'example.com:80' }), 400);
    } finally {
      session.destroy();
    }
    assert.equal(h.server.stats.refused.not_connect, 1);
    assert.equal(h.server.stats.refused.bad_authority, 1);
    assert.equal(h.requests.length, 0, 'authorize never sees a malformed request');
  });

  it('answers 401 when authorize denies, with the status in the error', async () => {
    h = await startHarness({ authorize: () => ({ allow: false, outcome: 'denied', detail: 'denied by policy ns-b/deny-a' }) });
    pool = new HbonePool();
    const err = await rejectsWith(pool.connect(target(h)), 'ERR_HBONE_DENIED');
    assert.equal(err.status, 401);
    assert.match(err.message, /401/);
    assert.deepEqual(h.echo.received, []);
  });

  it('answers 503 when the app refuses the connection', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    h = await startHarness({
      connectUpstream: (t) =>
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: deadPort });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
          void t;
        }),
    });
    pool = new HbonePool();
    const err = await rejectsWith(pool.connect(target(h)), 'ERR_HBONE_UNAVAILABLE');
    assert.equal(err.status, 503);
    // The connection stays usable for the next stream.
    assert.equal(pool.connectionCount, 1);
  });

  it('refuses streams beyond the per-connection cap without hurting other connections', async () => {
    h = await startHarness({ maxStreamsPerConnection: 4 });
    // peerMaxConcurrentStreams lets this client send past the cap before it learns our SETTINGS.
    const session = http2.connect(`https://127.0.0.1:${h.port}`, {
      peerMaxConcurrentStreams: 1000,
      createConnection: () =>
        tls.connect({ host: '127.0.0.1', port: h!.port, secureContext: clientContext, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
    });
    session.on('error', () => {});
    try {
      const outcomes = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) =>
            new Promise<string>((resolve) => {
              const req = session.request({ ':method': 'CONNECT', ':authority': `10.0.0.1:${1000 + i}` }, { endStream: false });
              req.on('response', (hd) => resolve(String(hd[':status'])));
              req.on('error', () => {});
              req.on('close', () => resolve(`rst ${req.rstCode}`));
            }),
        ),
      );
      assert.equal(outcomes.filter((o) => o === '200').length, 4, outcomes.join(' '));
      assert.equal(outcomes.filter((o) => o === `rst ${http2.constants.NGHTTP2_REFUSED_STREAM}`).length, 16, outcomes.join(' '));
      pool = new HbonePool();
      assert.equal(await exchange(await pool.connect(target(h)), 'still'), 'echo:still');
    } finally {
      session.destroy();
    }
  });
});
