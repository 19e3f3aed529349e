// Regression: a plaintext inbound connection was registered as live (what a policy change
// re-checks) only once its dial to the app had connected, after authorization. A DENY that
// landed during the dial re-checked every live connection, missed this one, and it was then
// relayed under the policy that denies it. The interleaving is exact: serveInboundPlaintext
// authorizes synchronously and then awaits the dial, so the test applies the DENY before the
// dial can complete. Real sockets, in ztunnel's own netns (needs root and the addon, like the
// capture tests).
import assert from 'node:assert/strict';
import net from 'node:net';
import { capturingLogger, loadState, wireWorkload } from '@ambient/api/testing';
import { createZtunnelMetrics } from '../../src/metrics.ts';
import { recheckPlaintext, serveInboundPlaintext, type PlaintextConnection } from '../../src/proxy/inbound.ts';
import type { CapturedPodRef } from '../../src/proxy/pod-socket.ts';

const pod: CapturedPodRef = { uid: 'b', ip: '127.0.0.1', netnsPath: '/proc/self/ns/net' };
const denyAll = { name: 'deny-all', namespace: 'shop', scope: 'NAMESPACE', action: 'DENY', rules: [{ clauses: [] }] };

/** The app in the pod: accepts and holds connections. */
async function startApp(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A connected pair: `client` stands for the calling pod, `accepted` for what 15006 accepted. */
async function socketPair(): Promise<{ client: net.Socket; accepted: net.Socket; close: () => void }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const accepted = await new Promise<net.Socket>((r) => listener.once('connection', r));
  return {
    client,
    accepted,
    close: () => {
      client.destroy();
      listener.close();
    },
  };
}

describe('ztunnel inbound plaintext: a policy change during the dial to the app', () => {
  it('recheck_race: a connection authorized but still dialing is re-checked, refused as denied, and never relayed', async () => {
    const app = await startApp();
    const pair = await socketPair();
    const { logger, lines } = capturingLogger();
    try {
      const allowed = loadState([wireWorkload({ uid: 'b', ip: pod.ip })]);
      const denied = loadState([wireWorkload({ uid: 'b', ip: pod.ip })], [denyAll]);
      const live = new Set<PlaintextConnection>();
      const deps = { state: allowed, metrics: createZtunnelMetrics(), logger, trustDomain: 'cluster.local', rootCertPem: '' };
      pair.client.write('should never reach the app');
      const served = serveInboundPlaintext(deps, pod, pair.accepted, app.port, live);
      // Authorized under `allowed`, now dialing the app: the DENY lands here.
      assert.equal(live.size, 1, 'the connection is live while it dials the app');
      assert.equal(recheckPlaintext(denied, denied.workloadByUid('b')!, live), 1);
      await served;
      const report = lines.find((l) => l.msg === 'connection failed' || l.msg === 'connection complete');
      assert.equal(report?.outcome, 'denied');
      assert.equal(report?.detail, 'denied by policy shop/deny-all');
      assert.deepEqual([report?.bytes_sent, report?.bytes_recv], [0, 0], 'nothing was relayed');
      assert.equal(live.size, 0);
    } finally {
      pair.close();
      await app.close();
    }
  });
});
