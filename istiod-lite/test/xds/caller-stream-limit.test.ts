// Regression: any authenticated caller could open unbounded discovery streams, each holding
// subscriptions and pushes in istiod-lite. Real gRPC over TLS on port 0, a cap of 3.
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient } from '@ambient/api/grpc';
import type { XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse } from '@ambient/api/grpc';
import { CallerStreamLimit, callerStreamKey } from '../../src/xds/caller-stream-limit.ts';
import { ADDRESS, callers, startHarness, testTls, until, workload } from './fixtures.ts';
import type { Harness } from './fixtures.ts';

type Call = grpc.ClientDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>;

describe('caller stream limit', () => {
  it('keys a pod-bound token by its pod, any other by its ServiceAccount', () => {
    assert.deepEqual(
      [callerStreamKey(callers['ztunnel-a']!), callerStreamKey(callers['ztunnel-b']!), callerStreamKey(callers.web!)],
      [
        'system:serviceaccount:istio-system:ztunnel (pod ztunnel-a)',
        'system:serviceaccount:istio-system:ztunnel (pod ztunnel-b)',
        'system:serviceaccount:default:web',
      ],
    );
  });

  it('counts per key, frees a released slot and keeps no empty entries', () => {
    const limit = new CallerStreamLimit(2);
    assert.deepEqual(
      ['a', 'a', 'a', 'b'].map((k) => limit.tryAcquire(k)),
      [true, true, false, true],
    );
    limit.release('a');
    assert.equal(limit.tryAcquire('a'), true);
    limit.release('b');
    assert.deepEqual([limit.open('a'), limit.open('b'), limit.callers], [2, 0, 1]);
  });

  it('refuses a cap that is not a positive whole number, naming it', () => {
    assert.throws(() => new CallerStreamLimit(0), /max streams per caller: 0 is not a positive integer/);
  });
});

describe('discovery server: streams per caller', () => {
  let h: Harness;
  let raw: AggregatedDiscoveryServiceClient;

  beforeEach(async () => {
    h = await startHarness({ maxStreamsPerCaller: 3 });
    h.source.set(ADDRESS, 'a', workload('a'));
    raw = new AggregatedDiscoveryServiceClient(`127.0.0.1:${h.port}`, grpc.credentials.createSsl(Buffer.from(testTls().ca.certPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
  });

  afterEach(async () => {
    raw.close();
    await h.close();
  });

  /** Opens a stream as `token`'s ztunnel and resolves once it is served (its first response) or refused. */
  function open(token: 'ztunnel-a' | 'ztunnel-b'): Promise<{ call: Call; refused?: grpc.ServiceError }> {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const call: Call = raw.DeltaAggregatedResources(metadata);
    return new Promise((resolve) => {
      call.on('error', (refused: grpc.ServiceError) => resolve({ call, refused }));
      call.once('data', () => resolve({ call }));
      const node = token === 'ztunnel-a' ? 'node-a' : 'node-b';
      call.write({ typeUrl: ADDRESS, node: { id: `ztunnel~${node}`, type: 'ztunnel', nodeName: node } });
    });
  }

  it('a caller cannot open unbounded discovery streams: over the cap RESOURCE_EXHAUSTED names the caller and the cap', async () => {
    const served = await Promise.all([open('ztunnel-a'), open('ztunnel-a'), open('ztunnel-a')]);
    assert.deepEqual(
      served.map((s) => s.refused?.code),
      [undefined, undefined, undefined],
    );
    const over = await open('ztunnel-a');
    assert.equal(over.refused?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(
      over.refused?.details,
      'caller system:serviceaccount:istio-system:ztunnel (pod ztunnel-a) is at its limit of 3 concurrent discovery streams (--max-streams-per-caller)',
    );
    const counted = (await h.metrics.streamsRefused.get()).values.map((v) => [v.labels.reason, v.value]);
    assert.deepEqual(counted, [['caller_stream_limit', 1]]);
    assert.equal(h.service.connections().length, 3, 'the refused stream holds nothing');

    // Another pod of the same ServiceAccount has its own allowance.
    assert.equal((await open('ztunnel-b')).refused, undefined);

    // A released stream frees its slot.
    served[0]!.call.cancel();
    await until('the cancelled stream is gone', () => h.service.connections().length === 3);
    assert.equal((await open('ztunnel-a')).refused, undefined);
    for (const s of served) s.call.cancel();
  });
});
