import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient, aggregatedDiscoveryServiceDefinition } from '@ambient/api/grpc';
import type { XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse, XdsDisconnect } from '@ambient/api/grpc';
import { ADDRESS, record, startHarness, testTls, until, workload } from './fixtures.ts';
import type { Harness } from './fixtures.ts';

function names(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}

async function metricValue(h: Harness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await h.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe('discovery server', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    h.source.set(ADDRESS, 'a', workload('a'));
    h.source.set(ADDRESS, 'b', workload('b'));
  });

  afterEach(async () => {
    await h.close();
  });

  it('sends every entitled resource on an initial wildcard subscription', async () => {
    const client = h.client();
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);
    assert.deepEqual(names(updates[0]!.resources), ['a', 'b']);
    assert.deepEqual(client.resources(ADDRESS).get('a')?.payload, { ...workload('a'), type: 'workload' });
    await until('ack', () => h.service.connections()[0]?.types[0]?.resources === 2);
    const [conn] = h.service.connections();
    assert.equal(conn!.proxy.type, 'ztunnel');
    assert.equal(conn!.proxy.nodeName, 'node-a');
    assert.equal(conn!.types[0]!.wildcard, true);
    assert.equal(await metricValue(h, 'pilot_xds', { type: 'ztunnel' }), 1);
  });

  it('answers an initial subscription even when there is nothing to send', async () => {
    h.source.remove(ADDRESS, 'a');
    h.source.remove(ADDRESS, 'b');
    const client = h.client();
    const updates = record(client);
    client.start();
    await until('empty initial response', () => updates.length === 1);
    assert.equal(updates[0]!.resources.size, 0);
  });

  it('pushes only the added, changed and removed resources', async () => {
    const client = h.client();
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);

    h.source.set(ADDRESS, 'c', workload('c'));
    h.source.emit(ADDRESS, ['c']);
    await until('add', () => updates.length === 2);
    assert.deepEqual(names(updates[1]!.resources), ['c']);
    assert.deepEqual(updates[1]!.removed, []);

    const v = h.source.set(ADDRESS, 'a', workload('a', { addresses: ['10.244.1.9'] }));
    h.source.emit(ADDRESS, ['a']);
    await until('change', () => updates.length === 3);
    assert.deepEqual(names(updates[2]!.resources), ['a']);
    assert.equal(client.resources(ADDRESS).get('a')?.version, v);

    h.source.remove(ADDRESS, 'b');
    h.source.emit(ADDRESS, ['b']);
    await until('removal', () => updates.length === 4);
    assert.equal(updates[3]!.resources.size, 0);
    assert.deepEqual(updates[3]!.removed, ['b']);
    assert.deepEqual(names(client.resources(ADDRESS)), ['a', 'c']);
  });

  it('diffs a change marked "all" against what the proxy holds', async () => {
    const client = h.client();
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);
    h.source.remove(ADDRESS, 'a');
    h.source.set(ADDRESS, 'd', workload('d'));
    h.source.emit(ADDRESS, 'all');
    await until('full diff', () => updates.length === 2);
    assert.deepEqual(names(updates[1]!.resources), ['d']);
    assert.deepEqual(updates[1]!.removed, ['a']);
  });

  it('sends named subscriptions only', async () => {
    const client = h.client({ subscriptions: [{ typeUrl: ADDRESS, names: ['b', 'missing'] }] });
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);
    assert.deepEqual(names(client.resources(ADDRESS)), ['b']);
    h.source.set(ADDRESS, 'a', workload('a', { name: 'a2' }));
    h.source.set(ADDRESS, 'missing', workload('missing'));
    h.source.emit(ADDRESS, ['a', 'missing']);
    await until('subscribed name appears', () => updates.length === 2);
    assert.deepEqual(names(updates[1]!.resources), ['missing']);
  });

  it('follows subscribe and unsubscribe on a live stream', async () => {
    const client = h.client({ subscriptions: [{ typeUrl: ADDRESS, names: [] }] });
    const updates = record(client);
    client.start();
    client.subscribe(ADDRESS, ['a']);
    await until('a arrives', () => client.resources(ADDRESS).has('a'));
    assert.deepEqual(names(client.resources(ADDRESS)), ['a'], 'an empty named subscription is not a wildcard');
    client.subscribe(ADDRESS, ['b']);
    await until('b arrives', () => client.resources(ADDRESS).has('b'));
    client.unsubscribe(ADDRESS, ['a']);
    assert.deepEqual(names(client.resources(ADDRESS)), ['b']);
    await until(
      'server forgot a',
      () => h.service.connections()[0]?.types[0]?.resources === 1 && h.service.connections()[0]?.types[0]?.pendingNonce === undefined,
    );
    const seen = updates.length;
    h.source.set(ADDRESS, 'a', workload('a', { name: 'a2' }));
    h.source.set(ADDRESS, 'b', workload('b', { name: 'b2' }));
    h.source.emit(ADDRESS, ['a', 'b']);
    await until('b changes', () => updates.length === seen + 1);
    assert.deepEqual(names(updates[seen]!.resources), ['b']);
    assert.deepEqual(names(client.resources(ADDRESS)), ['b']);
  });

  it('debounces several changes into one push', async () => {
    await h.close();
    h = await startHarness({ debounceMs: 80 });
    h.source.set(ADDRESS, 'a', workload('a'));
    const client = h.client();
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);
    const pushesBefore = await metricValue(h, 'pilot_xds_pushes', { type: 'Address' });
    for (let i = 0; i < 5; i++) {
      h.source.set(ADDRESS, `n${i}`, workload(`n${i}`));
      h.source.emit(ADDRESS, [`n${i}`]);
      await new Promise((r) => setTimeout(r, 5));
    }
    await until('debounced push', () => updates.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(updates.length, 2, 'one push for five changes');
    assert.deepEqual(names(updates[1]!.resources), ['n0', 'n1', 'n2', 'n3', 'n4']);
    assert.equal((await metricValue(h, 'pilot_xds_pushes', { type: 'Address' })) - pushesBefore, 1);
    const latency = await h.metrics.pushLatency.get();
    assert.equal(latency.values.find((v) => (v as { metricName?: string }).metricName === 'pilot_proxy_convergence_time_count')?.value, 1);
  });

  it('pushes within the change itself with debounceMs 0 (the model recompute is the one debounce)', async () => {
    await h.close();
    h = await startHarness({ debounceMs: 0 });
    h.source.set(ADDRESS, 'a', workload('a'));
    const client = h.client();
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);
    await until('initial sync acked', () => h.service.connections()[0]?.types[0]?.pendingNonce === undefined);
    const pushesBefore = await metricValue(h, 'pilot_xds_pushes', { type: 'Address' });
    h.source.set(ADDRESS, 'b', workload('b'));
    h.source.emit(ADDRESS, ['b']);
    // No timer ran between the change and this line: the push was written during emit.
    assert.equal((await metricValue(h, 'pilot_xds_pushes', { type: 'Address' })) - pushesBefore, 1);
    await until('pushed b', () => updates.length === 2);
    assert.deepEqual(names(updates[1]!.resources), ['b']);
  });

  it('writes one push at a time under a push budget smaller than any response, and still delivers everything', async () => {
    // Six proxies hold nothing; then 200 resources appear at once: every stream is owed them in
    // the same flush. Without a budget all six responses are in flight together.
    const peakWith = async (maxPushBytesInFlight: number): Promise<number> => {
      await h.close();
      h = await startHarness({ maxPushBytesInFlight });
      const clients = Array.from({ length: 6 }, (_, i) => h.client({ token: () => 'tester', node: { id: `t~${i}`, type: 'test', nodeName: 'node-a' } }));
      const updates = clients.map((c) => record(c));
      for (const c of clients) c.start();
      await until('all answered', () => updates.every((u) => u.length === 1));
      for (let i = 0; i < 200; i++) h.source.set(ADDRESS, `w${i}`, workload(`w${i}`));
      h.source.emit(
        ADDRESS,
        Array.from({ length: 200 }, (_, i) => `w${i}`),
      );
      await until('all synced', () => clients.every((c) => c.resources(ADDRESS).size === 200), 10_000);
      h.source.set(ADDRESS, 'w0', workload('w0', { name: 'changed' }));
      h.source.emit(ADDRESS, ['w0']);
      await until('change everywhere', () =>
        clients.every((c) => (c.resources(ADDRESS).get('w0')?.payload as { workload?: { name?: string } } | undefined)?.workload?.name === 'changed'),
      );
      const stats = h.service.pushBudget();
      assert.equal(stats.waiting, 0);
      assert.equal(stats.bytesInFlight, 0, 'every write completed and gave its bytes back');
      return stats.peakBytesInFlight;
    };
    const unbounded = await peakWith(1e12);
    const bounded = await peakWith(1);
    assert.ok(bounded * 4 < unbounded, `peak in flight: ${bounded} bytes with the budget, ${unbounded} without`);
  });

  it('does not let a proxy that stops reading hold the others’ pushes: its stalled write stops counting', async () => {
    await h.close();
    h = await startHarness({ maxPushBytesInFlight: 1, pushStallMs: 200 });
    // Far more than one HTTP/2 stream window: the write cannot complete while the reader is paused.
    for (let i = 0; i < 3000; i++) h.source.set(ADDRESS, `w${i}`, workload(`w${i}`, { canonicalName: 'x'.repeat(3000) }));
    // A plain HTTP/2 client that sends one gRPC request and never reads: its stream window closes.
    const session = http2.connect(`https://127.0.0.1:${h.port}`, { ca: testTls().ca.certPem, servername: 'istiod.istio-system.svc' });
    session.on('error', () => {
      /* closed at the end */
    });
    try {
      const stuck = session.request({
        ':method': 'POST',
        ':path': aggregatedDiscoveryServiceDefinition.DeltaAggregatedResources!.path,
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: 'Bearer tester',
      });
      stuck.on('error', () => {
        /* closed at the end */
      });
      stuck.pause();
      const message = aggregatedDiscoveryServiceDefinition.DeltaAggregatedResources!.requestSerialize({
        typeUrl: ADDRESS,
        node: { id: 't~stuck', type: 'test', nodeName: 'node-a' },
      });
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      message.copy(frame, 5);
      stuck.write(frame);
      await until('the stuck stream’s push is in flight', () => h.service.pushBudget().bytesInFlight > 0);
      assert.equal(await metricValue(h, 'istiod_lite_xds_push_bytes_in_flight'), h.service.pushBudget().bytesInFlight, 'the gauge reads the budget');
      const client = h.client({ token: () => 'tester', node: { id: 't~ok', type: 'test', nodeName: 'node-a' } });
      client.start();
      await until('the other proxy synced', () => client.resources(ADDRESS).size === 3000, 10_000);
      assert.ok(h.service.pushBudget().peakBytesInFlight > 0);
    } finally {
      session.destroy();
    }
  });

  it('gives a closed stream’s bytes back to the push budget and forgets its queued pushes', async () => {
    await h.close();
    h = await startHarness({ maxPushBytesInFlight: 1 });
    for (let i = 0; i < 50; i++) h.source.set(ADDRESS, `w${i}`, workload(`w${i}`));
    const first = h.client();
    first.start();
    first.close();
    const second = h.client({ token: () => 'tester', node: { id: 't~2', type: 'test', nodeName: 'node-a' } });
    second.start();
    await until('second synced', () => second.resources(ADDRESS).size === 50, 10_000);
    await until('budget empty', () => h.service.pushBudget().bytesInFlight === 0 && h.service.pushBudget().waiting === 0);
  });

  it('records a NACK, keeps the proxy on its old version and sends the next change again', async () => {
    const client = h.client({
      validate: (_t, _n, payload) => {
        if ((payload as { workload?: { name?: string } }).workload?.name === 'bad') throw new Error('name "bad" is not allowed');
      },
    });
    const updates = record(client);
    const nacks: string[] = [];
    client.on('nack', (n) => nacks.push(n.message));
    client.start();
    await until('initial sync', () => updates.length === 1);
    const good = client.resources(ADDRESS).get('a')!.version;

    h.source.set(ADDRESS, 'a', workload('a', { name: 'bad' }));
    h.source.emit(ADDRESS, ['a']);
    await until('nack recorded', () => h.service.connections()[0]?.types[0]?.nacks === 1);
    const info = h.service.connections()[0]!.types[0]!;
    assert.match(info.lastNack!.message, /name "bad" is not allowed/);
    assert.equal(info.pendingNonce, undefined);
    assert.equal(nacks.length, 1);
    assert.equal(client.resources(ADDRESS).get('a')!.version, good, 'client keeps its old config');
    assert.equal(await metricValue(h, 'pilot_total_xds_rejects', { type: 'Address' }), 1);

    // A change to another name does not resend "a": the stream is not stuck.
    h.source.set(ADDRESS, 'c', workload('c'));
    h.source.emit(ADDRESS, ['c']);
    await until('unrelated change', () => updates.length === 2);
    assert.deepEqual(names(updates[1]!.resources), ['c']);

    const fixed = h.source.set(ADDRESS, 'a', workload('a', { name: 'a-fixed' }));
    h.source.emit(ADDRESS, ['a']);
    await until('fixed version accepted', () => client.resources(ADDRESS).get('a')?.version === fixed);
  });

  it('sends nothing more for a type until its last response is ACKed, then the coalesced changes', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer ztunnel-a');
    const raw = new AggregatedDiscoveryServiceClient(`127.0.0.1:${h.port}`, grpc.credentials.createSsl(Buffer.from(testTls().ca.certPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    try {
      const call = raw.DeltaAggregatedResources(metadata);
      const received: XdsDeltaDiscoveryResponse[] = [];
      call.on('data', (r: XdsDeltaDiscoveryResponse) => received.push(r));
      call.on('error', () => {
        /* cancelled at the end */
      });
      call.write({ typeUrl: ADDRESS, node: { type: 'ztunnel', nodeName: 'node-a' } });
      await until('initial response', () => received.length === 1);
      for (const name of ['c', 'd']) {
        h.source.set(ADDRESS, name, workload(name));
        h.source.emit(ADDRESS, [name]);
        await new Promise((r) => setTimeout(r, 60));
      }
      assert.equal(received.length, 1, 'no push while the initial response is un-ACKed');
      call.write({ typeUrl: ADDRESS, responseNonce: received[0]!.nonce });
      await until('coalesced push after ACK', () => received.length === 2);
      assert.deepEqual(received[1]!.resources!.map((r) => r.name).sort(), ['c', 'd']);
      assert.notEqual(received[1]!.nonce, received[0]!.nonce);
      call.cancel();
    } finally {
      raw.close();
    }
  });

  it('resumes a reconnecting proxy from the versions it holds', async () => {
    const client = h.client();
    const updates = record(client);
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    h.source.set(ADDRESS, 'c', workload('c'));
    client.start();
    await until('initial sync', () => updates.length === 1);
    assert.deepEqual(names(client.resources(ADDRESS)), ['a', 'b', 'c']);

    await h.restart();
    await until('disconnect seen', () => disconnects.length >= 1);
    // While the proxy is away: b changes, c goes, d appears; a stays as it was.
    h.source.set(ADDRESS, 'b', workload('b', { addresses: ['10.244.1.7'] }));
    h.source.remove(ADDRESS, 'c');
    h.source.set(ADDRESS, 'd', workload('d'));

    await until('resync after reconnect', () => updates.length === 2, 5000);
    assert.deepEqual(names(updates[1]!.resources), ['b', 'd']);
    assert.deepEqual(updates[1]!.removed, ['c']);
    assert.deepEqual(names(client.resources(ADDRESS)), ['a', 'b', 'd']);
  });

  it('refuses a stream without a valid token with UNAUTHENTICATED', async () => {
    const client = h.client({ token: () => 'forged' });
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    const updates = record(client);
    client.start();
    await until('refusal', () => disconnects.length >= 1);
    assert.equal(disconnects[0]!.code, grpc.status.UNAUTHENTICATED);
    assert.match(disconnects[0]!.details, /authentication failed: token forged/);
    assert.equal(updates.length, 0);
    assert.equal(h.service.connections().length, 0);
  });

  it('does not talk to a server whose certificate is not for the expected name', async () => {
    const client = h.client({ servername: 'evil.example' });
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    const updates = record(client);
    client.start();
    await until('tls failure', () => disconnects.length >= 1);
    assert.equal(disconnects[0]!.code, grpc.status.UNAVAILABLE);
    assert.equal(updates.length, 0);
    assert.equal(h.service.connections().length, 0);
  });

  it('refuses a stream without authorization metadata', async () => {
    const raw = new AggregatedDiscoveryServiceClient(`127.0.0.1:${h.port}`, grpc.credentials.createSsl(Buffer.from(testTls().ca.certPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    try {
      const call = raw.DeltaAggregatedResources();
      const status = await new Promise<grpc.ServiceError>((resolve) => {
        call.on('error', resolve);
        call.on('data', () => {
          /* none expected */
        });
        call.write({ typeUrl: ADDRESS, node: { type: 'test' } });
      });
      assert.equal(status.code, grpc.status.UNAUTHENTICATED);
      assert.match(status.details, /missing "authorization: Bearer <token>" metadata/);
    } finally {
      raw.close();
    }
  });

  it('refuses a ztunnel claiming another node with PERMISSION_DENIED', async () => {
    const client = h.client({ token: () => 'ztunnel-a', node: { type: 'ztunnel', nodeName: 'node-b' } });
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    const updates = record(client);
    client.start();
    await until('refusal', () => disconnects.length >= 1);
    assert.equal(disconnects[0]!.code, grpc.status.PERMISSION_DENIED);
    assert.match(disconnects[0]!.details, /claims node "node-b" but its token is bound to node "node-a"/);
    assert.equal(updates.length, 0);
  });

  it('refuses a workload ServiceAccount claiming to be ztunnel', async () => {
    const client = h.client({ token: () => 'web', node: { type: 'ztunnel', nodeName: 'node-a' } });
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    client.start();
    await until('refusal', () => disconnects.length >= 1);
    assert.equal(disconnects[0]!.code, grpc.status.PERMISSION_DENIED);
    assert.match(disconnects[0]!.details, /needs ServiceAccount istio-system\/ztunnel, caller is system:serviceaccount:default:web/);
  });

  it('gives a test proxy (root-namespace caller, test proxies enabled) exactly what a ztunnel gets', async () => {
    const client = h.client({ token: () => 'tester', node: { type: 'test' } });
    const updates = record(client);
    client.start();
    await until('initial sync', () => updates.length === 1);
    assert.deepEqual(names(client.resources(ADDRESS)), ['a', 'b']);
    assert.ok(
      h.source.askedFor.every((n) => n.type === 'ztunnel'),
      'the model is asked for a ztunnel view',
    );
    assert.equal(h.service.connections()[0]!.proxy.type, 'test');
  });

  it('ends a stream that subscribes to an unknown type with INVALID_ARGUMENT', async () => {
    const client = h.client({ subscriptions: [{ typeUrl: 'type.googleapis.com/evil.Secret' }] });
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    client.start();
    await until('refusal', () => disconnects.length >= 1);
    assert.equal(disconnects[0]!.code, grpc.status.INVALID_ARGUMENT);
    assert.match(disconnects[0]!.details, /unknown type url "type.googleapis.com\/evil.Secret"/);
  });

  it('keeps serving other streams while one floods garbage', async () => {
    const good = h.client();
    const updates = record(good);
    good.start();
    await until('initial sync', () => updates.length === 1);

    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer ztunnel-a');
    const raw = new AggregatedDiscoveryServiceClient(`127.0.0.1:${h.port}`, grpc.credentials.createSsl(Buffer.from(testTls().ca.certPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    try {
      const call = raw.DeltaAggregatedResources(metadata);
      const received: XdsDeltaDiscoveryResponse[] = [];
      call.on('data', (r: XdsDeltaDiscoveryResponse) => received.push(r));
      const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      call.write({ typeUrl: ADDRESS, node: { type: 'ztunnel', nodeName: 'node-a' } });
      for (let i = 0; i < 2000; i++) {
        const garbage: XdsDeltaDiscoveryRequest = {
          typeUrl: ADDRESS,
          responseNonce: `bogus-${i}`,
          resourceNamesSubscribe: [`junk-${i}`],
          resourceNamesUnsubscribe: [`other-${i}`],
          ...(i % 3 === 0 ? { errorDetail: { code: 13, message: 'x'.repeat(100) } } : {}),
        };
        call.write(garbage);
      }
      h.source.set(ADDRESS, 'a', workload('a', { name: 'after-flood' }));
      h.source.emit(ADDRESS, ['a']);
      await until('good stream still gets pushes', () => updates.length === 2, 1000);
      assert.deepEqual(names(updates[1]!.resources), ['a']);

      call.write({ typeUrl: 'garbage' });
      const status = await ended;
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      assert.ok(received.length >= 1, 'the flooding stream was answered before it was ended');
      await until('flooding stream cleaned up', () => h.service.connections().length === 1);
      assert.equal(await metricValue(h, 'pilot_xds', { type: 'ztunnel' }), 1);
      assert.equal(await metricValue(h, 'pilot_total_xds_rejects', { type: 'Address' }), 0, 'stale-nonce NACKs are not counted');
    } finally {
      raw.close();
    }
  });

  it('stops pushing and ends streams on close', async () => {
    const client = h.client();
    const updates = record(client);
    const disconnects: XdsDisconnect[] = [];
    client.on('disconnected', (d) => disconnects.push(d));
    client.start();
    await until('initial sync', () => updates.length === 1);
    h.service.close();
    await until('stream ended', () => disconnects.length >= 1);
    assert.equal(disconnects[0]!.code, grpc.status.UNAVAILABLE);
    assert.equal(h.source.listenerCount, 0);
    assert.equal(await metricValue(h, 'pilot_xds', { type: 'ztunnel' }), 0);
  });
});
