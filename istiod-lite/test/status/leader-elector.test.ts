import assert from 'node:assert/strict';
import { CoreV1Api } from '@kubernetes/client-node';
import { LeaderElector } from '../../src/status/leader-elector.ts';
import { RawClient } from '../../src/kube/raw-client.ts';
import { eventually, silent, startEmbeddedApi, type EmbeddedApi } from '../kube/embedded-api.ts';

describe('LeaderElector', () => {
  let api: EmbeddedApi;
  const electors: LeaderElector[] = [];
  const elector = (identity: string, extra: Partial<ConstructorParameters<typeof LeaderElector>[1]> = {}): LeaderElector => {
    const e = new LeaderElector(api.kc, { namespace: 'istio-system', identity, logger: silent, ...extra });
    electors.push(e);
    return e;
  };
  const lease = () =>
    RawClient.create(api.kc).get<{ spec: { holderIdentity: string; leaseTransitions: number; renewTime: string } }>(
      '/apis/coordination.k8s.io/v1/namespaces/istio-system/leases/istiod-lite-leader',
    );

  beforeEach(async () => {
    api = await startEmbeddedApi();
    await api.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'istio-system' } } });
  });
  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop();
    await api?.close();
  });

  it('takes over only after the holder has not renewed for the lease duration (by its own clock)', async () => {
    let t = 1_000_000;
    const now = () => t;
    const a = elector('a', { now });
    const b = elector('b', { now });
    const events: string[] = [];
    a.on('leading', () => events.push('a leading'));
    a.on('stopped-leading', () => events.push('a stopped'));
    b.on('leading', () => events.push('b leading'));

    await a.tryAcquireOrRenew();
    await b.tryAcquireOrRenew();
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    assert.equal((await lease()).spec.holderIdentity, 'a');
    assert.match((await lease()).spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'renewTime is a MicroTime');

    t += 10_000; // a renews within its 15 s: b keeps waiting
    await a.tryAcquireOrRenew();
    await b.tryAcquireOrRenew();
    t += 14_000; // b saw a's renewal 14 s ago: not yet expired
    await b.tryAcquireOrRenew();
    assert.equal(b.isLeader, false);

    t += 1_000; // 15 s without a renewal: b takes over
    await b.tryAcquireOrRenew();
    assert.equal(b.isLeader, true);
    const taken = await lease();
    assert.equal(taken.spec.holderIdentity, 'b');
    assert.equal(taken.spec.leaseTransitions, 1);

    await a.tryAcquireOrRenew(); // a notices it lost the lease
    assert.equal(a.isLeader, false);
    assert.deepEqual(events, ['a leading', 'b leading', 'a stopped']);
  });

  it('with real timers: one of two leads; the other takes over when the leader stops renewing', async function () {
    this.timeout(10_000);
    const a = elector('a', { leaseDurationSeconds: 1, renewIntervalMs: 100 });
    const b = elector('b', { leaseDurationSeconds: 1, renewIntervalMs: 100 });
    await a.start();
    await b.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([a.isLeader, b.isLeader], [true, false]);

    await a.stop({ release: false }); // like a crash: the lease is left to expire
    const started = Date.now();
    await eventually('b to lead', () => b.isLeader, 5_000);
    assert.ok(Date.now() - started >= 600, 'b waited for the lease to expire');
    assert.equal((await lease()).spec.holderIdentity, 'b');
  });

  it('hands the lease over at once when the leader stops with release', async () => {
    const a = elector('a', { renewIntervalMs: 100 });
    const b = elector('b', { renewIntervalMs: 100 });
    await a.start();
    await b.start();
    assert.equal(a.isLeader, true);
    await a.stop();
    await eventually('b to lead', () => b.isLeader, 2_000);
  });
});
