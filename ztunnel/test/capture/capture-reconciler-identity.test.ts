// The certificates captured pods present on 15008, with the real capture (needs root): two pod
// network namespaces this test creates, a mesh CA on port 0, and virtual time for the secret
// manager and the reconciler. A TLS client inside a pod's netns reads what its 15008 presents.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { issueCertificate, ports, type PodInfo } from '@ambient/api';
import { grpcCaClient, SecretManager } from '@ambient/api/proxy-runtime';
import { FakeClock, id, loadState, TestCaServer, wireWorkload } from '@ambient/api/testing';
import { HbonePool } from '@ambient/hbone';
import { CaptureReconciler } from '../../src/capture/capture-reconciler.ts';
import { connectInNetns, loadNative, removeCaptureRules } from '../../src/capture/index.ts';
import { createZtunnelMetrics, type ZtunnelMetrics } from '../../src/metrics.ts';
import { createTwoPodNetns, podInfo, within } from '../two-pod-netns.ts';

const WEB = id('shop', 'web');
const netnsNames = [`ztid${process.pid}a`, `ztid${process.pid}b`] as const;

const podA = podInfo('web-a', '10.78.0.1', netnsNames[0], 'web');
const podB = podInfo('web-b', '10.78.0.2', netnsNames[1], 'web');

type Handshake = { serial: string } | { refused: string } | { timedOut: true };

describe('capture reconciler: the certificates captured pods present (root)', () => {
  let netns: ReturnType<typeof createTwoPodNetns> | undefined;
  const caServer = new TestCaServer();
  let clientContext: tls.SecureContext;
  let clock: FakeClock;
  let client: ReturnType<typeof grpcCaClient>;
  let secrets: SecretManager;
  let pool: HbonePool;
  let metrics: ZtunnelMetrics;
  let capture: CaptureReconciler;

  /** A TLS client inside the pod's netns: what its 15008 presents, or why it refused. */
  function handshake(pod: PodInfo): Promise<Handshake> {
    return new Promise((resolve) => {
      const raw = connectInNetns(pod.netnsPath, { host: '127.0.0.1', port: ports.hbone });
      // Presented certificates are judged on the virtual clock below, not by OpenSSL's real one.
      const socket = tls.connect({ socket: raw, secureContext: clientContext, ALPNProtocols: ['h2'], rejectUnauthorized: false });
      const done = (result: Handshake): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => done({ timedOut: true }), 5000);
      socket.once('secureConnect', () => done({ serial: socket.getPeerCertificate().serialNumber.toUpperCase() }));
      socket.once('error', (err) => done({ refused: err.message }));
      socket.once('close', () => done({ refused: 'closed before the handshake' }));
    });
  }

  /** The serial the secret manager holds for WEB now, valid on the virtual clock. */
  async function currentSerial(): Promise<string> {
    const cert = await secrets.fetch(WEB);
    assert.ok(cert.notAfter.getTime() > clock.now(), 'the held certificate is valid');
    return cert.serial.toUpperCase();
  }

  before(async () => {
    loadNative();
    netns = createTwoPodNetns(podA, podB);
    await caServer.start();
    const c = issueCertificate({ ca: caServer.ca, commonName: '', uris: [id('shop', 'client')], validityDays: 1 });
    clientContext = tls.createSecureContext({ key: c.keyPem, cert: c.certPem, ca: caServer.ca.certPem });
  });

  after(async () => {
    await caServer.stop();
    netns?.remove();
  });

  beforeEach(() => {
    clock = new FakeClock();
    caServer.calls.length = 0;
    caServer.behaviour = { kind: 'sign' };
    client = grpcCaClient({ address: caServer.address, rootCertPem: caServer.ca.certPem, token: () => 'token' });
    const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
    secrets = new SecretManager({
      ca: client,
      rootCertPem: caServer.ca.certPem,
      ttlSeconds: 100,
      timers: clock.timers,
      now: clock.now,
      random: () => 0.5,
      logger,
    });
    pool = new HbonePool();
    metrics = createZtunnelMetrics();
    const state = loadState([wireWorkload({ uid: podA.uid, ip: podA.ip, sa: 'web' }), wireWorkload({ uid: podB.uid, ip: podB.ip, sa: 'web' })]);
    capture = new CaptureReconciler({ state, secrets, pool, metrics, logger, trustDomain: 'cluster.local', rootCertPem: caServer.ca.certPem }, clock.timers);
    capture.discoverySynced();
  });

  afterEach(async () => {
    await capture.stop(0);
    secrets.close();
    client.close();
    pool.close();
    for (const pod of [podA, podB]) await removeCaptureRules(pod.netnsPath);
  });

  // Regression: un-capturing a pod forgot its identity in the secret manager, so another pod of
  // the same ServiceAccount kept presenting a certificate nobody refreshed, until it expired.
  it('keeps refreshing the certificate of a pod whose identity-sharing neighbour is un-captured', async () => {
    capture.podAdded(podA);
    capture.podAdded(podB);
    await capture.idle();
    assert.deepEqual([...capture.proxies.keys()].sort(), [podA.uid, podB.uid]);
    const first = await secrets.fetch(WEB);
    assert.deepEqual(await handshake(podA), { serial: first.serial.toUpperCase() });

    capture.podRemoved(podB);
    await capture.idle();
    assert.deepEqual([...capture.proxies.keys()], [podA.uid]);

    // The test CA signs on the real clock, which the virtual one overtakes: long certificates from here on.
    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    const rotated = within(secrets, 'certificate', 2000);
    clock.advance(51_000); // past the half-life refresh
    assert.ok(await rotated, 'the shared certificate was refreshed');
    clock.advance(first.notAfter.getTime() - clock.now() + 1); // the first certificate has expired
    const presented = await handshake(podA);
    assert.notDeepEqual(presented, { serial: first.serial.toUpperCase() }, 'never the expired certificate');
    assert.deepEqual(presented, { serial: await currentSerial() });
  });

  // Regression: a pod's 15008 swapped its certificate only on a 'certificate' event, so when
  // refreshes kept failing it went on presenting the expired one.
  it('refuses the inbound handshake once the pod certificate expired unrefreshed, and serves again after a refresh', async () => {
    capture.podAdded(podA);
    await capture.idle();
    const first = await secrets.fetch(WEB);
    caServer.behaviour = { kind: 'fail', code: grpc.status.UNAVAILABLE, message: 'ca overloaded' };
    const failed = within(secrets, 'refresh-failed', 2000);
    clock.advance(first.notAfter.getTime() - clock.now() + 1); // the refresh on the way fails
    assert.ok(await failed);
    const refused = await handshake(podA);
    assert.ok('refused' in refused, `refused, not served: ${JSON.stringify(refused)}`);
    const counted = (await metrics.refused.get()).values.find((v) => v.labels.direction === 'inbound' && v.labels.reason === 'no_certificate');
    assert.equal(counted?.value, 1, 'counted as a refused connection');
    assert.deepEqual([...capture.proxies.keys()], [podA.uid], 'still captured');

    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    const issued = within(secrets, 'certificate', 2000);
    clock.advance(30_000); // past any back-off delay
    assert.ok(await issued);
    assert.deepEqual(await handshake(podA), { serial: await currentSerial() });
  });

  it('presents a refreshed certificate even when no certificate event reached the pod', async () => {
    capture.podAdded(podA);
    await capture.idle();
    const first = await secrets.fetch(WEB);
    caServer.behaviour = { kind: 'sign', validitySeconds: 3600 };
    secrets.removeAllListeners('certificate'); // as if ztunnel had missed the event
    const refreshed = within(secrets, 'certificate', 2000);
    clock.advance(51_000);
    assert.ok(await refreshed);
    const presented = await handshake(podA);
    assert.notDeepEqual(presented, { serial: first.serial.toUpperCase() });
    assert.deepEqual(presented, { serial: await currentSerial() });
  });

  it('refuses an outbound HBONE connection from a pod whose certificate expired unrefreshed', async () => {
    capture.podAdded(podA);
    capture.podAdded(podB);
    await capture.idle();
    const first = await secrets.fetch(WEB);
    caServer.behaviour = { kind: 'fail', code: grpc.status.UNAVAILABLE, message: 'ca overloaded' };
    clock.advance(first.notAfter.getTime() - clock.now() + 1);
    // From inside pod A to pod B's app port: captured on A's 15001, to go over HBONE.
    const socket = connectInNetns(podA.netnsPath, { host: podB.ip, port: 8080 });
    socket.on('error', () => undefined);
    socket.on('end', () => socket.destroy()); // half-open sockets: ztunnel's close arrives as an end
    await once(socket, 'close');
    const counted = (await metrics.refused.get()).values.find((v) => v.labels.direction === 'outbound');
    assert.deepEqual(counted && { reason: counted.labels.reason, value: counted.value }, { reason: 'connect_failed', value: 1 });
  });

  it('releases an identity with its last pod and gives a re-captured pod a certificate again', async () => {
    capture.podAdded(podA);
    capture.podAdded(podB);
    await capture.idle();
    capture.podRemoved(podA);
    capture.podRemoved(podB);
    await capture.idle();
    assert.deepEqual(secrets.list(), []);
    assert.deepEqual(clock.pendingDelays(), [], 'no refresh left behind');
    const asked = caServer.calls.length;

    capture.podAdded(podA);
    await capture.idle();
    assert.deepEqual([...capture.proxies.keys()], [podA.uid]);
    assert.equal(caServer.calls.length, asked + 1);
    assert.deepEqual(await handshake(podA), { serial: await currentSerial() });
  });

  it('holds the identity once for a pod captured over several reconciles and failed attempts', async () => {
    caServer.behaviour = { kind: 'fail', code: grpc.status.PERMISSION_DENIED, message: 'pod of shop/web is not on node node-1' };
    capture.podAdded(podA);
    capture.podAdded(podA);
    capture.reconcile();
    await capture.idle();
    assert.equal(capture.proxies.size, 0);

    caServer.behaviour = { kind: 'sign' };
    const issued = within(secrets, 'certificate', 2000);
    clock.advance(1000); // the secret manager's back-off and the reconciler's retry
    assert.ok(await issued);
    await capture.idle();
    clock.advance(1000);
    await capture.idle();
    assert.deepEqual([...capture.proxies.keys()], [podA.uid]);
    capture.reconcile();
    await capture.idle();

    capture.podRemoved(podA);
    await capture.idle();
    assert.deepEqual(secrets.list(), [], 'released as often as acquired');
  });
});
