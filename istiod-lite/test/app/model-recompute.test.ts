import assert from 'node:assert/strict';
import { mock } from 'node:test';
import { pino } from 'pino';
import type { ChangeListener } from '../../src/kube/mesh-sources.ts';
import { createMetrics } from '../../src/metrics.ts';
import { ModelRecompute } from '../../src/model-recompute.ts';
import { emptyInputs } from '../../src/model/inputs.ts';
import type { MeshModel } from '../../src/model/mesh-model.ts';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(debounceMs = 20) {
  let listener: ChangeListener = () => {};
  const seen: number[] = [];
  const led: MeshModel[] = [];
  const model: MeshModel = {
    workloads: new Map(),
    services: new Map(),
    authorizations: new Map(),
    waypoints: new Map(),
    waypointGateways: new Map(),
    sidecars: new Map(),
    sidecarView: { services: [], extensions: [] },
    statuses: [],
    acceptedExtensions: new Map(),
    memo: { context: [], workloads: new WeakMap(), services: new WeakMap() },
  };
  const recompute = new ModelRecompute({
    sources: {
      snapshot: emptyInputs,
      onChange: (l) => {
        listener = l;
        return () => {
          listener = () => {};
        };
      },
    },
    state: {
      update: (_inputs, seenAt) => {
        seen.push(seenAt);
        return model;
      },
    },
    leader: {
      update: (m) => {
        led.push(m);
      },
    },
    metrics: createMetrics(),
    logger: pino({ level: 'silent' }),
    debounceMs,
  });
  recompute.start();
  return { recompute, seen, led, change: (seenAt: number) => listener(new Set(['Pod']), seenAt) };
}

describe('ModelRecompute', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('recomputes once per burst, timed from the first change (push latency starts there)', async () => {
    const { recompute, seen, led, change } = setup();
    change(100);
    mock.timers.tick(10);
    change(110);
    mock.timers.tick(19);
    assert.deepEqual(seen, [], 'the quiet period restarts with each change');
    mock.timers.tick(1);
    assert.deepEqual(seen, [100]);
    assert.equal(led.length, 1, 'the leader-only work got the model');
    await recompute.stop();
    change(200);
    mock.timers.tick(1_000);
    assert.deepEqual(seen, [100], 'nothing after stop()');
  });

  it('recomputes at least every 500 ms under constant churn', async () => {
    const { recompute, seen, change } = setup();
    for (let t = 0; t < 1_000; t += 10) {
      change(t);
      mock.timers.tick(10);
      await settle(); // as between two events: a finished run's bookkeeping is done
    }
    assert.deepEqual(seen, [0, 500]);
    await recompute.stop();
  });
});
