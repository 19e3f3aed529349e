import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { type EventEmitter, once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { issueCertificate, parseCsr } from '@ambient/api';
import pino from 'pino';
import { grpcCaClient, type IdentityError, refreshAt, SecretManager, type WorkloadCertificate } from '../../src/proxy-runtime/index.ts';
import { FakeClock } from '../../src/testing/fake-clock.ts';
import { TestCaServer } from '../../src/testing/test-ca-server.ts';

const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice';
const BOB = 'spiffe://cluster.local/ns/shop/sa/bob';
const TTL = 100; // seconds: half-life 50 s with the jitter pinned to 0 (random = 0.5)

/** The next emission of `event`, or a failure after a real (bounded) deadline. */
async function next<T>(emitter: EventEmitter, event: string, ms = 5000): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no ${event} event within ${ms} ms`)), ms);
  try {
    return (await once(emitter, event, { signal: ac.signal }))[0] as T;
  } finally {
    clearTimeout(timer);
  }
}

async function rejection(p: Promise<unknown>): Promise<IdentityError> {
  try {
    await p;
  } catch (err) {
    return err as IdentityError;
  }
  assert.fail('expected a rejection');
}

describe('SecretManager', () => {
  const caServer = new TestCaServer();
  let clock: FakeClock;
  let tokens: number;
  let client: ReturnType<typeof grpcCaClient>;
  let manager: SecretManager;

  function newManager(opts: { ttlSeconds?: number; random?: () => number; impersonate?: boolean } = {}): SecretManager {
    return new SecretManager({
      ...(opts.impersonate !== undefined ? { impersonate: opts.impersonate } : {}),
      ca: client,
      rootCertPem: caServer.ca.certPem,
      ttlSeconds: opts.ttlSeconds ?? TTL,
      timers: clock.timers,
      now: clock.now,
      random: opts.random ?? (() => 0.5),
      logger: pino({ level: 'silent' }),
    });
  }

  before(async () => {
    await caServer.start();
  });
  after(async () => {
    await caServer.stop();
  });

  beforeEach(() => {
    clock = new FakeClock();
    tokens = 0;
    caServer.calls.length = 0;
    caServer.behaviour = { kind: 'sign' };
    client = grpcCaClient({ address: caServer.address, rootCertPem: caServer.ca.certPem, token: () => `token-${++tokens}` });
    manager = newManager();
  });

  afterEach(() => {
    manager.close();
    client.close();
  });

  // Regression: the waypoint asked for its own certificate as an impersonation, which the CA
  // allows only to ztunnel, so the waypoint pod crash-looped.
  it('asks for its own identity without impersonation when impersonate is false', async () => {
    const own = newManager({ impersonate: false });
    const cert = await own.fetch(ALICE);
    assert.equal(caServer.calls.at(-1)?.request.impersonatedIdentity ?? '', '');
    assert.equal(cert.identity, ALICE);
    own.close();
  });
  it('issues an ecdsa p-256 certificate for the identity on first fetch', async () => {
    const cert = await manager.fetch(ALICE);
    assert.equal(caServer.calls.length, 1);
    const { request } = caServer.calls[0]!;
    assert.equal(request.impersonatedIdentity, ALICE);
    assert.equal(Number(request.validityDuration), TTL);
    assert.deepEqual(parseCsr(request.csr!).uris, [ALICE]);
    const key = crypto.createPrivateKey(cert.keyPem);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const leaf = new crypto.X509Certificate(cert.certChainPem[0]!);
    assert.equal(leaf.subjectAltName, `URI:${ALICE}`);
    assert.ok(leaf.checkPrivateKey(key));
    assert.equal(cert.certChainPem.length, 1, 'the root is not part of the presented chain');
    assert.equal(cert.serial, leaf.serialNumber);

    const [info] = manager.list();
    assert.equal(info!.identity, ALICE);
    assert.equal(info!.state, 'available');
    assert.equal(info!.serial, cert.serial);
    assert.deepEqual(
      info!.chain.map((c) => c.uris),
      [[ALICE], []],
    );
    assert.ok(!JSON.stringify(manager.list()).includes('PRIVATE KEY'), 'list() never shows keys');
  });

  it('shares one csr between concurrent fetches of the same identity', async () => {
    const certs = await Promise.all([manager.fetch(ALICE), manager.fetch(ALICE), manager.fetch(ALICE), manager.fetch(BOB)]);
    assert.equal(caServer.calls.length, 2);
    assert.equal(certs[0], certs[1]);
    assert.equal(certs[0], certs[2]);
    assert.notEqual(certs[0], certs[3]);
    assert.equal(await manager.fetch(ALICE), certs[0], 'cached afterwards');
    assert.equal(caServer.calls.length, 2);
  });

  it('reads the token for every request', async () => {
    await manager.fetch(ALICE);
    await manager.fetch(BOB);
    assert.deepEqual(
      caServer.calls.map((c) => c.authorization),
      ['Bearer token-1', 'Bearer token-2'],
    );
  });

  it('refreshes at half-life with a new key and a new secure context', async () => {
    const first = await manager.fetch(ALICE);
    clock.advance(49_000);
    assert.equal(caServer.calls.length, 1, 'no refresh before half-life');
    const rotated = next<{ identity: string; rotated: boolean }>(manager, 'certificate');
    clock.advance(2_000);
    assert.deepEqual(await rotated, { identity: ALICE, serial: (await manager.fetch(ALICE)).serial, rotated: true });
    assert.equal(caServer.calls.length, 2);
    const second = await manager.fetch(ALICE);
    assert.notEqual(second.serial, first.serial);
    assert.notEqual(second.keyPem, first.keyPem);
    assert.notEqual(second.secureContext, first.secureContext);
    assert.equal(caServer.calls[1]!.authorization, 'Bearer token-2');
  });

  it('keeps the old certificate while a failed refresh retries with backoff', async () => {
    const first = await manager.fetch(ALICE);
    caServer.behaviour = { kind: 'fail', code: grpc.status.UNAVAILABLE, message: 'ca overloaded' };
    let failed = next<{ retryInMs: number; error: IdentityError }>(manager, 'refresh-failed');
    clock.advance(51_000);
    const f1 = await failed;
    assert.equal(f1.retryInMs, 1000);
    assert.equal(f1.error.code, 'ERR_CA_UNAVAILABLE');
    assert.match(f1.error.message, /ca overloaded/);
    assert.equal(await manager.fetch(ALICE), first, 'old certificate still served');
    assert.equal(manager.list()[0]!.state, 'available');

    clock.advance(999);
    assert.equal(caServer.calls.length, 2, 'no retry before the backoff delay');
    failed = next(manager, 'refresh-failed');
    clock.advance(1);
    assert.equal((await failed).retryInMs, 1600, 'the delay grows by 1.6');
    assert.equal(caServer.calls.length, 3);

    caServer.behaviour = { kind: 'sign' };
    const rotated = next(manager, 'certificate');
    clock.advance(1600);
    await rotated;
    assert.equal(caServer.calls.length, 4);
    assert.notEqual((await manager.fetch(ALICE)).serial, first.serial);
  });

  it('rejects with ERR_CERT_UNAVAILABLE once the certificate expires without a refresh, and recovers', async () => {
    const first = await manager.fetch(ALICE);
    caServer.behaviour = { kind: 'fail', code: grpc.status.INTERNAL, message: 'signing key missing' };
    const failed = next(manager, 'refresh-failed');
    clock.advance(51_000);
    await failed;
    const retried = next(manager, 'refresh-failed'); // the 1 s retry fires on the way to expiry, and fails
    clock.advance(first.notAfter.getTime() - clock.now());
    await retried;
    const err = await rejection(manager.fetch(ALICE));
    assert.equal(err.code, 'ERR_CERT_UNAVAILABLE');
    assert.match(err.message, /signing key missing/);
    assert.equal(manager.list()[0]!.state, 'unavailable');

    // The test CA signs on the real clock, which the virtual one has overtaken by now: a 100 s
    // certificate would arrive already expired (and be rejected as such).
    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    const issued = next(manager, 'certificate');
    clock.advance(30_000); // past any backoff delay
    await issued;
    assert.equal(manager.list()[0]!.state, 'available');
    assert.ok((await manager.fetch(ALICE)).notAfter.getTime() > clock.now());
  });

  it('reports a denied first request as ERR_CERT_UNAVAILABLE caused by ERR_CA_DENIED, then retries', async () => {
    caServer.behaviour = { kind: 'fail', code: grpc.status.PERMISSION_DENIED, message: 'pod of shop/alice is not on node node-1' };
    const err = await rejection(manager.fetch(ALICE));
    assert.equal(err.code, 'ERR_CERT_UNAVAILABLE');
    const cause = err.cause as IdentityError;
    assert.equal(cause.code, 'ERR_CA_DENIED');
    assert.match(cause.message, /PERMISSION_DENIED.*not on node node-1/);
    assert.equal(manager.list()[0]!.state, 'unavailable');
    assert.match(manager.list()[0]!.lastError!, /not on node node-1/);
    assert.equal((await rejection(manager.fetch(ALICE))).code, 'ERR_CERT_UNAVAILABLE', 'no new request per fetch');
    assert.equal(caServer.calls.length, 1);

    caServer.behaviour = { kind: 'sign' };
    const issued = next(manager, 'certificate');
    clock.advance(1000);
    await issued;
    assert.equal((await manager.fetch(ALICE)).identity, ALICE);
  });

  for (const [name, behaviour, pattern] of [
    ['another identity', { kind: 'wrong-identity', uri: BOB }, /uri sans are \["spiffe:\/\/cluster.local\/ns\/shop\/sa\/bob"\]/],
    ['another root', { kind: 'other-root' }, /does not chain to the configured root/],
    ["a key other than the csr's", { kind: 'other-key' }, /does not carry the key of our csr/],
  ] as const) {
    it(`rejects a certificate for ${name}`, async () => {
      caServer.behaviour = behaviour;
      const err = await rejection(manager.fetch(ALICE));
      assert.equal(err.code, 'ERR_CERT_UNAVAILABLE');
      assert.equal((err.cause as IdentityError).code, 'ERR_CERT_INVALID');
      assert.match((err.cause as IdentityError).message, pattern);
      assert.equal(manager.list()[0]!.serial, undefined, 'nothing installed');
    });
  }

  it('rejects a certificate that is already expired on arrival', async () => {
    clock.advance(200_000); // the CA signs 100 s certificates on the real clock, now 200 s behind ours
    const err = await rejection(manager.fetch(ALICE));
    assert.equal((err.cause as IdentityError).code, 'ERR_CERT_INVALID');
    assert.match((err.cause as IdentityError).message, /is not valid at/);
  });

  it('refuses an identity that is not a workload spiffe id without asking the ca', async () => {
    const err = await rejection(manager.fetch('spiffe://cluster.local/ns/shop'));
    assert.equal(err.code, 'ERR_IDENTITY_INVALID');
    assert.match(err.message, /"spiffe:\/\/cluster.local\/ns\/shop"/);
    assert.equal(caServer.calls.length, 0);
  });

  // Regression: un-capturing one pod forgot its identity outright, so the certificate that the
  // other pods of the same ServiceAccount still presented stopped being refreshed and expired.
  it('keeps refreshing an identity one user released while another still holds it', async () => {
    manager.acquire(ALICE);
    manager.acquire(ALICE);
    const first = await manager.fetch(ALICE);
    manager.release(ALICE);
    // The test CA signs on the real clock, which the virtual one overtakes: long certificates from here on.
    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    const rotated = next(manager, 'certificate');
    clock.advance(51_000);
    await rotated;
    clock.advance(first.notAfter.getTime() - clock.now() + 1);
    const held = await manager.fetch(ALICE);
    assert.notEqual(held.serial, first.serial);
    assert.ok(held.notAfter.getTime() > clock.now());
    assert.equal(manager.list()[0]!.state, 'available');
  });

  it('stops refreshing an identity when its last user releases it, and asks again when it is acquired again', async () => {
    manager.acquire(ALICE);
    manager.acquire(ALICE);
    await manager.fetch(ALICE);
    manager.release(ALICE);
    manager.release(ALICE);
    assert.deepEqual(clock.pendingDelays(), []);
    assert.deepEqual(manager.list(), []);
    clock.advance(200_000);
    assert.equal(caServer.calls.length, 1);

    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    manager.acquire(ALICE);
    const again = await manager.fetch(ALICE);
    assert.equal(caServer.calls.length, 2);
    assert.ok(again.notAfter.getTime() > clock.now());
  });

  it('keeps an identity fetched without acquire (the waypoint its own) when others acquire and release it', async () => {
    const own = await manager.fetch(ALICE);
    manager.acquire(ALICE);
    manager.release(ALICE);
    assert.equal(await manager.fetch(ALICE), own);
    const rotated = next(manager, 'certificate');
    clock.advance(51_000);
    await rotated;
    assert.equal(caServer.calls.length, 2);
  });

  it('ignores a release of an identity nobody holds', async () => {
    manager.release(ALICE);
    manager.acquire(BOB);
    await manager.fetch(BOB);
    manager.release(ALICE);
    assert.deepEqual(
      manager.list().map((c) => c.identity),
      [BOB],
    );
  });

  it('refuses to acquire an identity that is not a workload spiffe id, counting nothing', () => {
    assert.throws(() => manager.acquire('spiffe://cluster.local/ns/shop'), { code: 'ERR_IDENTITY_INVALID' });
    assert.deepEqual(manager.list(), []);
    assert.equal(caServer.calls.length, 0);
  });

  it('gives the current certificate only while it is valid on the injected clock, without asking the ca', async () => {
    assert.equal(manager.current(ALICE), undefined, 'an identity nobody asked for');
    assert.equal(caServer.calls.length, 0);
    manager.acquire(ALICE);
    assert.equal(manager.current(ALICE), undefined, 'not issued yet');
    const first = await manager.fetch(ALICE);
    assert.equal(manager.current(ALICE), first);

    caServer.behaviour = { kind: 'fail', code: grpc.status.UNAVAILABLE, message: 'ca overloaded' };
    const failed = next(manager, 'refresh-failed');
    clock.advance(51_000);
    await failed;
    assert.equal(manager.current(ALICE), first, 'the old certificate while it lasts');
    clock.advance(first.notAfter.getTime() - clock.now() - 1);
    assert.equal(manager.current(ALICE), first);
    clock.advance(1);
    assert.equal(manager.current(ALICE), undefined, 'never an expired certificate');

    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    const issued = next(manager, 'certificate');
    clock.advance(30_000);
    await issued;
    assert.equal(manager.current(ALICE), await manager.fetch(ALICE));
  });

  it('refreshes 90-day certificates after 45 days despite the 24.8-day limit of timers', async () => {
    manager.close();
    manager = newManager({ ttlSeconds: 90 * 86400 });
    await manager.fetch(ALICE);
    assert.ok(clock.pendingDelays().every((d) => d <= 2 ** 31 - 1));
    clock.advance(44 * 86400_000);
    assert.equal(caServer.calls.length, 1);
    const rotated = next(manager, 'certificate');
    clock.advance(2 * 86400_000);
    await rotated;
    assert.equal(caServer.calls.length, 2);
  });

  describe('across a rotation', () => {
    let server: tls.Server;
    let sockets: tls.TLSSocket[];
    let peerSerials: string[];

    beforeEach(async () => {
      sockets = [];
      peerSerials = [];
      const serving = issueCertificate({ ca: caServer.ca, commonName: '', uris: [BOB], validityDays: 1 });
      server = tls.createServer(
        {
          key: serving.keyPem,
          cert: serving.certPem,
          ca: caServer.ca.certPem,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.3',
          allowHalfOpen: true,
        },
        (socket) => {
          peerSerials.push(socket.getPeerCertificate().serialNumber.toUpperCase());
          socket.pipe(socket);
        },
      );
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
    });

    afterEach(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    async function connect(cert: WorkloadCertificate): Promise<tls.TLSSocket> {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        secureContext: cert.secureContext,
        // The mesh checks the peer's SPIFFE ID itself; Node's hostname check ignores URI SANs.
        checkServerIdentity: () => undefined,
      });
      sockets.push(socket);
      await next(socket, 'secureConnect');
      return socket;
    }

    async function echo(socket: tls.TLSSocket, text: string): Promise<string> {
      const reply = next<Buffer>(socket, 'data');
      socket.write(text);
      return (await reply).toString();
    }

    it('keeps a tls 1.3 connection made with the old context while new connections present the new certificate', async () => {
      const old = await manager.fetch(ALICE);
      const early = await connect(old);
      assert.equal(early.getProtocol(), 'TLSv1.3');
      assert.equal(await echo(early, 'before'), 'before');

      const rotated = next(manager, 'certificate');
      clock.advance(51_000);
      await rotated;
      const fresh = await manager.fetch(ALICE);
      assert.notEqual(fresh.serial, old.serial);

      assert.equal(await echo(early, 'after'), 'after', 'the old session still carries data');
      const late = await connect(fresh);
      assert.equal(await echo(late, 'new'), 'new');
      assert.deepEqual(peerSerials, [old.serial.toUpperCase(), fresh.serial.toUpperCase()]);
    });
  });
});

describe('refreshAt', () => {
  const receivedAt = 1_000_000;
  for (const [random, expected] of [
    [0.5, 50_000],
    [0, 40_000],
    [0.999999, 59_999],
  ] as const) {
    it(`refreshes a 100 s certificate after ${expected} ms when random() is ${random}`, () => {
      assert.equal(refreshAt({ receivedAt, notAfter: receivedAt + 100_000, random: () => random }) - receivedAt, expected);
    });
  }

  it('counts the lifetime from receipt, not from a back-dated notBefore', () => {
    // A 60 s certificate whose notBefore is 5 minutes back is still refreshed 30 s after receipt.
    assert.equal(refreshAt({ receivedAt, notAfter: receivedAt + 60_000, random: () => 0.5 }), receivedAt + 30_000);
  });
});

describe('grpcCaClient', () => {
  it('fails with ERR_CA_UNAVAILABLE when nothing listens at the address', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const { ca } = new TestCaServer();
    const client = grpcCaClient({ address: `127.0.0.1:${port}`, rootCertPem: ca.certPem, token: () => 't', timeoutMs: 5000 });
    try {
      const err = await rejection(client.createCertificate('csr', 60, ALICE));
      assert.equal(err.code, 'ERR_CA_UNAVAILABLE');
      assert.match(err.message, new RegExp(`ca at 127.0.0.1:${port} failed a certificate for ${ALICE} \\(UNAVAILABLE\\)`));
    } finally {
      client.close();
    }
  });

  it('fails with ERR_CA_UNAVAILABLE when the token cannot be read', async () => {
    const { ca } = new TestCaServer();
    const client = grpcCaClient({
      address: '127.0.0.1:1',
      rootCertPem: ca.certPem,
      token: () => {
        throw new Error('ENOENT: /var/run/secrets/token');
      },
    });
    try {
      const err = await rejection(client.createCertificate('csr', 60, ALICE));
      assert.equal(err.code, 'ERR_CA_UNAVAILABLE');
      assert.match(err.message, /ENOENT: \/var\/run\/secrets\/token/);
    } finally {
      client.close();
    }
  });
});
