// The per-pod cap's decision and its logging, on a virtual clock. What a pod sees over the cap
// (real sockets, real netns) is in pod-connection-cap.test.ts.
import assert from 'node:assert/strict';
import { capturingLogger, FakeClock } from '@ambient/api/testing';
import { createZtunnelMetrics, type ZtunnelMetrics } from '../../src/metrics.ts';
import { PodConnectionLimit, refusalBurstGapMs } from '../../src/proxy/pod-connection-limit.ts';

function setup(limits = { outbound: 2, inbound: 3 }): {
  limit: PodConnectionLimit;
  clock: FakeClock;
  lines: Record<string, unknown>[];
  metrics: ZtunnelMetrics;
} {
  const { logger, lines } = capturingLogger();
  const clock = new FakeClock(0);
  const metrics = createZtunnelMetrics();
  return { limit: new PodConnectionLimit(limits, { logger, metrics }, clock), clock, lines, metrics };
}

async function refusedCount(metrics: ZtunnelMetrics, direction: string): Promise<number> {
  const v = (await metrics.refused.get()).values.find((x) => x.labels.direction === direction && x.labels.reason === 'pod_connection_limit');
  return v?.value ?? 0;
}

describe('pod connection limit', () => {
  it('admits up to the cap per direction, each direction on its own count', () => {
    const { limit } = setup();
    assert.deepEqual(
      ['outbound', 'outbound', 'outbound', 'inbound', 'inbound', 'inbound', 'inbound'].map((d) => limit.tryAcquire(d as 'outbound' | 'inbound')),
      [true, true, false, true, true, true, false],
    );
    assert.deepEqual([limit.inUse('outbound'), limit.inUse('inbound')], [2, 3]);
  });

  it('gives a released slot to the next connection, and never counts below zero', () => {
    const { limit } = setup();
    limit.tryAcquire('outbound');
    limit.tryAcquire('outbound');
    assert.equal(limit.tryAcquire('outbound'), false);
    limit.release('outbound');
    assert.equal(limit.tryAcquire('outbound'), true);
    limit.release('inbound');
    assert.equal(limit.inUse('inbound'), 0);
  });

  it('counts every refusal in the metric but logs a burst once when it starts and once when it is over', async () => {
    const { limit, clock, lines, metrics } = setup({ outbound: 1, inbound: 1 });
    limit.tryAcquire('outbound');
    for (let i = 0; i < 50; i++) {
      assert.equal(limit.tryAcquire('outbound'), false);
      clock.advance(100);
    }
    assert.equal(await refusedCount(metrics, 'outbound'), 50);
    assert.deepEqual(
      lines.map((l) => [l.level, l.direction, l.limit]),
      [[40, 'outbound', 1]],
      'one warning for the whole burst',
    );
    // Quiet for the gap, a slot frees: the next admitted connection closes the burst with its count.
    clock.advance(refusalBurstGapMs);
    limit.release('outbound');
    assert.equal(limit.tryAcquire('outbound'), true);
    assert.deepEqual(
      lines.slice(1).map((l) => [l.msg, l.refused]),
      [['pod connection limit burst over', 50]],
    );
    // A new burst later warns again.
    assert.equal(limit.tryAcquire('outbound'), false);
    assert.equal(lines.filter((l) => l.level === 40).length, 2);
  });

  it('counts refusals made elsewhere (the HBONE server answered 503) in the same burst', async () => {
    const { limit, lines, metrics } = setup();
    limit.refused('inbound');
    limit.refused('inbound');
    assert.equal(await refusedCount(metrics, 'inbound'), 2);
    assert.equal(lines.length, 1);
  });

  it('refuses a limit that is not a positive whole number, naming it', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => setup({ outbound: 10, inbound: bad }), new RegExp(`pod connection limit inbound: ${bad} is not a positive integer`));
    }
  });
});
