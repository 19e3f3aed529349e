import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { HbonePool } from '@ambient/hbone';
import type { PodInfo } from '@ambient/api';
import { CaptureReconciler } from '../../src/capture/capture-reconciler.ts';
import type { SecretManager } from '@ambient/api/proxy-runtime';
import { createZtunnelMetrics } from '../../src/metrics.ts';
import { id, loadState, wireWorkload } from '@ambient/api/testing';

/** Records which identities capture asked a certificate for; never answers (no CA here). */
class RecordingSecrets extends EventEmitter {
  readonly asked: string[] = [];
  fetch(identity: string): Promise<never> {
    this.asked.push(identity);
    return Promise.reject(new Error('no CA in this test'));
  }
  forget(): void {}
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
});
