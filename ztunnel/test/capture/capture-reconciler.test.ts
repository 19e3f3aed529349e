import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { HbonePool } from '@ambient/hbone';
import type { PodInfo } from '@ambient/api';
import { CaptureReconciler } from '../../src/capture/capture-reconciler.ts';
import { grpcCaClient, SecretManager } from '@ambient/api/proxy-runtime';
import { createZtunnelMetrics } from '../../src/metrics.ts';
import { FakeClock, id, loadState, TestCaServer, wireWorkload } from '@ambient/api/testing';

/** Records which identities capture asked a certificate for; never answers (no CA here). */
class RecordingSecrets extends EventEmitter {
  readonly asked: string[] = [];
  acquire(identity: string): void {
    this.asked.push(identity);
  }
  release(): void {}
  fetch(): Promise<never> {
    return Promise.reject(new Error('no CA in this test'));
  }
}

const pod: PodInfo = {
  uid: 'web-1',
  name: 'web-1',
  namespace: 'shop',
  ip: '10.244.1.2',
  netns: 'none',
  netnsPath: '/run/netns/none',
  labels: {},
  annotations: {},
  serviceAccount: 'web',
};

describe('capture reconciler', () => {
  it('captures no pod before every discovery type has synced once (a pod captured before its policies would accept what they deny)', async () => {
    const secrets = new RecordingSecrets();
    const state = loadState([wireWorkload({ uid: 'web-1', ip: '10.244.1.2', sa: 'web' })]);
    const pool = new HbonePool();
    const timers = { setTimeout: () => undefined, clearTimeout: () => {} };
    const capture = new CaptureReconciler(
      {
        state,
        secrets: secrets as unknown as SecretManager,
        pool,
        metrics: createZtunnelMetrics(),
        logger: pino({ level: 'silent' }),
        trustDomain: 'cluster.local',
        rootCertPem: '',
      },
      timers,
    );
    try {
      capture.podAdded(pod);
      capture.discoveryChanged({ policyChange: false, touched: new Set(['web-1']) }); // the Address arrived, policies not yet
      await capture.idle();
      assert.deepEqual(secrets.asked, [], 'nothing is captured while policies may still be missing');
      capture.discoverySynced();
      await capture.idle();
      assert.deepEqual(secrets.asked, [id('shop', 'web')], 'capture starts once discovery has synced');
    } finally {
      await capture.stop(0);
      pool.close();
    }
  });

  describe('with a certificate authority', () => {
    const caServer = new TestCaServer();
    before(() => caServer.start());
    after(() => caServer.stop());

    // Regression: a pod whose capture failed (here: the CA refused its certificate) and that then
    // left the node kept its identity in the secret manager, requested again and again forever.
    it('releases the identity of a pod removed while its capture was still failing', async () => {
      const clock = new FakeClock();
      caServer.calls.length = 0;
      caServer.behaviour = { kind: 'fail', code: grpc.status.PERMISSION_DENIED, message: 'pod of shop/web is not on node node-1' };
      const client = grpcCaClient({ address: caServer.address, rootCertPem: caServer.ca.certPem, token: () => 'token' });
      const logger = pino({ level: 'silent' });
      const secrets = new SecretManager({ ca: client, rootCertPem: caServer.ca.certPem, timers: clock.timers, now: clock.now, random: () => 0.5, logger });
      const pool = new HbonePool();
      const state = loadState([wireWorkload({ uid: 'web-1', ip: '10.244.1.2', sa: 'web' })]);
      const capture = new CaptureReconciler(
        { state, secrets, pool, metrics: createZtunnelMetrics(), logger, trustDomain: 'cluster.local', rootCertPem: caServer.ca.certPem },
        clock.timers,
      );
      try {
        capture.podAdded(pod);
        capture.discoverySynced();
        await capture.idle();
        assert.equal(capture.proxies.size, 0, 'not captured: the CA refused the certificate');
        assert.deepEqual(
          secrets.list().map((c) => c.identity),
          [id('shop', 'web')],
        );

        capture.podRemoved(pod);
        await capture.idle();
        assert.deepEqual(secrets.list(), [], 'nobody needs the identity any more');
        const asked = caServer.calls.length;
        clock.advance(120_000);
        await capture.idle();
        assert.equal(caServer.calls.length, asked, 'no more requests for it');
      } finally {
        await capture.stop(0);
        secrets.close();
        client.close();
        pool.close();
      }
    });
  });
});
