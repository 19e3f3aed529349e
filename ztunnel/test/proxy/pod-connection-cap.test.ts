// Regression: a pod could open unbounded connections through ztunnel (and a peer could open
// unbounded HBONE streams to one pod), each holding sockets and buffers in the node's ztunnel.
// Real capture (needs root and the addon, like the capture tests): two pod network namespaces
// joined by a veth pair, the capture reconciler with its listeners and rules in them, a mesh CA
// on port 0, an app in pod B that holds every connection it gets, and a cap of 3.
import assert from 'node:assert/strict';
import net from 'node:net';
import { grpcCaClient, SecretManager } from '@ambient/api/proxy-runtime';
import { capturingLogger, FakeClock, loadState, TestCaServer, wireWorkload } from '@ambient/api/testing';
import { HbonePool } from '@ambient/hbone';
import { CaptureReconciler } from '../../src/capture/capture-reconciler.ts';
import { connectInNetns, listenInNetns, loadNative, removeCaptureRules } from '../../src/capture/index.ts';
import { createZtunnelMetrics, type ZtunnelMetrics } from '../../src/metrics.ts';
import { createTwoPodNetns, podInfo, within } from '../two-pod-netns.ts';

const netnsNames = [`ztcap${process.pid}a`, `ztcap${process.pid}b`] as const;
const APP_PORT = 8080;

const podA = podInfo('client', '10.79.0.1', netnsNames[0]);
const podB = podInfo('server', '10.79.0.2', netnsNames[1]);

describe('ztunnel per-pod connection cap (root)', () => {
  let netns: ReturnType<typeof createTwoPodNetns> | undefined;
  const caServer = new TestCaServer();
  let app: net.Server;
  const appSockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let client: ReturnType<typeof grpcCaClient>;
  let secrets: SecretManager;
  let pool: HbonePool;
  let metrics: ZtunnelMetrics;
  let capture: CaptureReconciler | undefined;
  let lines: Record<string, unknown>[];

  before(async () => {
    loadNative();
    netns = createTwoPodNetns(podA, podB);
    await caServer.start();
    // The app in pod B: accepts and holds every connection, so each keeps its slot.
    app = net.createServer((s) => {
      appSockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => appSockets.delete(s));
    });
    await listenInNetns(app, podB.netnsPath, { port: APP_PORT });
  });

  after(async () => {
    app.close();
    await caServer.stop();
    netns?.remove();
  });

  async function startCapture(podConnectionLimits: { outbound: number; inbound: number }): Promise<void> {
    const captured = capturingLogger();
    lines = captured.lines;
    const logger = captured.logger;
    client = grpcCaClient({ address: caServer.address, rootCertPem: caServer.ca.certPem, token: () => 'token' });
    secrets = new SecretManager({ ca: client, rootCertPem: caServer.ca.certPem, logger });
    pool = new HbonePool();
    metrics = createZtunnelMetrics();
    const state = loadState([wireWorkload({ uid: podA.uid, ip: podA.ip, sa: 'client' }), wireWorkload({ uid: podB.uid, ip: podB.ip, sa: 'server' })]);
    capture = new CaptureReconciler({
      state,
      secrets,
      pool,
      metrics,
      logger,
      trustDomain: 'cluster.local',
      rootCertPem: caServer.ca.certPem,
      podConnectionLimits,
      clock: new FakeClock(0),
    });
    capture.discoverySynced();
    capture.podAdded(podA);
    capture.podAdded(podB);
    await capture.idle();
    assert.deepEqual([...capture.proxies.keys()].sort(), [podA.uid, podB.uid]);
  }

  afterEach(async () => {
    for (const s of clients) s.destroy();
    clients.clear();
    for (const s of appSockets) s.destroy();
    await capture?.stop(0);
    capture = undefined;
    secrets.close();
    client.close();
    pool.close();
    for (const pod of [podA, podB]) await removeCaptureRules(pod.netnsPath);
  });

  /** From inside pod A to pod B's app: captured on A's 15001, tunnelled to B's 15008. */
  function connectToApp(): net.Socket {
    const socket = connectInNetns(podA.netnsPath, { host: podB.ip, port: APP_PORT });
    socket.on('error', () => undefined);
    socket.on('end', () => socket.destroy()); // half-open sockets: ztunnel's close arrives as an end
    clients.add(socket);
    return socket;
  }

  /** Opens `n` connections that reach the app and stay open there. */
  async function fillTo(n: number): Promise<net.Socket[]> {
    const held: net.Socket[] = [];
    for (let i = 0; i < n; i++) {
      const reached = within(app, 'connection', 5000);
      held.push(connectToApp());
      assert.ok(await reached, `connection ${i + 1} of ${n} reaches the app`);
    }
    return held;
  }

  /** A connection over the cap: closed at once, and never reaches the app. */
  async function refusedAtOnce(): Promise<void> {
    const before = appSockets.size;
    const socket = connectToApp();
    assert.ok(await within(socket, 'close', 5000), 'the connection over the cap is closed');
    assert.equal(appSockets.size, before, 'it never reached the app');
  }

  async function refused(direction: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const v of (await metrics.refused.get()).values) if (v.labels.direction === direction) out[String(v.labels.reason)] = v.value;
    return out;
  }

  const burstWarnings = (): Record<string, unknown>[] => lines.filter((l) => String(l.msg).startsWith('pod connection limit reached'));

  it('a pod cannot open unbounded connections through ztunnel: outbound over the cap is closed at once, and a freed slot admits again', async () => {
    await startCapture({ outbound: 3, inbound: 100 });
    const held = await fillTo(3);
    await refusedAtOnce();
    await refusedAtOnce();
    assert.deepEqual(await refused('outbound'), { pod_connection_limit: 2 });
    assert.deepEqual(
      burstWarnings().map((l) => [l.pod, l.direction, l.limit]),
      [[podA.uid, 'outbound', 3]],
      'one line for the burst, not one per connection',
    );
    assert.equal(
      lines.filter((l) => l.outcome === 'pod_connection_limit' && l.msg === 'connection failed').length,
      0,
      'no access-log line per refused connection',
    );
    // One ends: its slot is given back and the next connection goes through.
    const proxyA = capture!.proxies.get(podA.uid)!;
    held[0]!.destroy();
    for (let i = 0; i < 500 && proxyA.connectionSlots().outbound > 2; i++) await new Promise((r) => setImmediate(r));
    assert.equal(proxyA.connectionSlots().outbound, 2);
    await fillTo(1);
  });

  it('a pod cannot be sent unbounded HBONE streams: inbound over the cap is answered 503 (pod_connection_limit)', async () => {
    await startCapture({ outbound: 100, inbound: 3 });
    await fillTo(3);
    await refusedAtOnce();
    await refusedAtOnce();
    assert.deepEqual(await refused('inbound'), { pod_connection_limit: 2 }, 'pod B refused the streams over its cap');
    // Pod A's side saw a 503 on its CONNECT: the client's name for it is unavailable.
    assert.deepEqual(await refused('outbound'), { unavailable: 2 });
    const clientView = lines.find((l) => l.pod === podA.uid && l.outcome === 'unavailable');
    assert.ok(String(clientView?.error).includes('503'), `the outbound log line names the 503: ${JSON.stringify(clientView)}`);
    assert.deepEqual(
      burstWarnings().map((l) => [l.pod, l.direction, l.limit]),
      [[podB.uid, 'inbound', 3]],
    );
    assert.equal(capture!.proxies.get(podB.uid)!.connectionSlots().inbound, 3);
  });
});
