// Regression: a dial from inside a pod's netns (to the app, to a passthrough destination, or
// the HBONE pool's TCP connection to a peer) had no deadline of its own: to a black-holed
// address (a dead node, a NetworkPolicy dropping SYNs) it waited for the kernel to give up, over
// two minutes, holding the downstream connection all that time. The black hole here is real: a
// listening socket that is never accepted from, its queue full, so the kernel drops further SYNs.
// Run in ztunnel's own netns (needs root and the addon, like the capture tests).
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { FakeClock } from '@ambient/api/testing';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { HboneError, HbonePool } from '@ambient/hbone';
import tls from 'node:tls';
import { loadNative } from '../../src/capture/native.ts';
import { dialFromPod, podSocket, type CapturedPodRef } from '../../src/proxy/pod-socket.ts';

const pod: CapturedPodRef = { uid: 'a', ip: '127.0.0.1', netnsPath: '/proc/self/ns/net' };

/** A port whose SYNs are dropped: listening (backlog 1), never accepted, its queue filled. */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  const fd = loadNative().listenInNetns(pod.netnsPath, '127.0.0.1', port, 1);
  // Linux queues backlog + 1 connections; once they wait to be accepted, SYNs go unanswered.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    fillers.push(s);
  }
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      closeSync(fd);
    },
  };
}

/** Lets the event loop turn, so a rejection that is due has been delivered. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function settledFlag(p: Promise<unknown>): { settled: () => boolean; result: Promise<unknown> } {
  let settled = false;
  const result = p.then(
    (v) => v,
    (err: unknown) => err,
  );
  void result.finally(() => {
    settled = true;
  });
  return { settled: () => settled, result };
}

describe('dials from a pod netns to a black-holed address', function () {
  this.timeout(5000); // a dial left to the kernel would take minutes
  let hole: { port: number; close: () => void } | undefined;
  let pool: HbonePool | undefined;
  afterEach(() => {
    pool?.close();
    hole?.close();
    hole = pool = undefined;
  });

  it('connect_timeout: dialFromPod fails as connect_failed once its connect timeout passes, not before', async () => {
    hole = await blackHole();
    const clock = new FakeClock(0);
    const dial = settledFlag(dialFromPod(pod, { ip: '127.0.0.1', port: hole.port }, { timeoutMs: 60_000, timers: clock.timers }));
    await turn();
    clock.advance(59_999);
    await turn();
    assert.equal(dial.settled(), false);
    clock.advance(1);
    const err = await dial.result;
    assert.ok(err instanceof HboneError, String(err));
    assert.equal(err.outcome, 'connect_failed');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${hole.port}.*60000 ms`));
  });

  it('connect_timeout: the HBONE pool dialing from a pod (TCP not yet connected) fails as connect_failed at its connect timeout', async () => {
    hole = await blackHole();
    const clock = new FakeClock(0);
    const ca = createCertificateAuthority({ commonName: 'mesh root' });
    const leaf = issueCertificate({ ca, commonName: '', uris: ['spiffe://cluster.local/ns/a/sa/x'] });
    const context = tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem, ca: ca.certPem, minVersion: 'TLSv1.3' });
    pool = new HbonePool({ timers: clock.timers, connectTimeoutMs: 60_000 });
    const connect = settledFlag(
      pool.connect({
        source: { identity: 'spiffe://cluster.local/ns/a/sa/x', context, localSocketFactory: (a) => podSocket(pod, a) },
        destination: { ip: '10.244.2.7', port: 8080 },
        hboneAddress: { ip: '127.0.0.1', port: hole.port },
        expectedIdentities: ['spiffe://cluster.local/ns/b/sa/y'],
      }),
    );
    await turn();
    clock.advance(59_999);
    await turn();
    assert.equal(connect.settled(), false);
    clock.advance(1);
    const err = await connect.result;
    assert.ok(err instanceof HboneError, String(err));
    assert.equal(err.outcome, 'connect_failed');
    assert.equal(pool.connectionCount, 0);
  });
});
