import assert from 'node:assert/strict';
import type { OutlierDetection, TrafficPolicy } from '@ambient/api';
import { EndpointPicker, type TryResult } from '../../src/balance/endpoint-picker.ts';
import { outlierSettings } from '../../src/balance/outlier-detector.ts';
import type { Endpoint } from '../../src/config/waypoint-state.ts';
import { seededRandom } from '@ambient/api/testing';
import { endpoints, noContext, recordEvents, T0, virtualTime } from './balance-fixtures.ts';

const B = 'reviews:80';
const rr = (outlierDetection?: OutlierDetection): TrafficPolicy => ({
  name: 'shop/reviews',
  loadBalancer: 'ROUND_ROBIN',
  ...(outlierDetection ? { outlierDetection } : {}),
});

function setup(n = 4) {
  const { fake, clock } = virtualTime();
  const { events, log } = recordEvents(clock);
  const picker = new EndpointPicker({ clock, random: seededRandom(1), events });
  const eps = endpoints(n);
  const pickIps = (policy: TrafficPolicy, count = eps.length, list: readonly Endpoint[] = eps) =>
    new Set(Array.from({ length: count }, () => picker.pick(B, list, policy, noContext)!.endpoint.ip));
  const send = (e: Endpoint, result: TryResult, times = 1) => {
    for (let i = 0; i < times; i++) {
      picker.started(e);
      picker.finished(B, e, result);
    }
  };
  return { fake, picker, eps, log, pickIps, send };
}

const s503: TryResult = { latencyMs: 1, status: 503 };
const s500: TryResult = { latencyMs: 1, status: 500 };
const ok: TryResult = { latencyMs: 1, status: 200 };

describe('outlier detection', () => {
  it('fills in Istio defaults, and is off when both checks are 0', () => {
    assert.deepEqual(outlierSettings({}), {
      consecutive5xx: 5,
      consecutiveGateway: 0,
      intervalMs: 10_000,
      baseEjectionMs: 30_000,
      maxEjectionMs: 300_000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    });
    assert.equal(outlierSettings({ consecutive_5xxErrors: 0 }), undefined);
    assert.equal(outlierSettings({ consecutive_5xxErrors: 0, consecutiveGatewayErrors: 2 })?.consecutiveGateway, 2);
    assert.equal(outlierSettings({ baseEjectionTimeMs: 600_000 })?.maxEjectionMs, 600_000, 'the cap is never below the base');
  });

  it('is off unless the DestinationRule configures it', () => {
    const { eps, log, pickIps, send } = setup();
    pickIps(rr());
    send(eps[0]!, s503, 50);
    assert.equal(pickIps(rr()).size, 4);
    assert.deepEqual(log, []);
  });

  it('ejects a 100%-failing endpoint among 3 healthy ones after 5 consecutive 5xx (the default)', () => {
    const { eps, log, pickIps, send } = setup();
    const od = {};
    pickIps(rr(od));
    send(eps[0]!, s500, 4);
    assert.equal(pickIps(rr(od)).size, 4, 'four in a row are not enough');
    send(eps[0]!, s500);
    assert.deepEqual(pickIps(rr(od), 30), new Set([eps[1]!.ip, eps[2]!.ip, eps[3]!.ip]));
    assert.deepEqual(log, [{ kind: 'ejected', backend: B, endpoint: `${eps[0]!.ip}:8080`, reason: 'consecutive_5xx', ejectionMs: 30_000, at: 0 }]);
  });

  it('starts counting again after a success', () => {
    const { eps, log, pickIps, send } = setup();
    pickIps(rr({}));
    send(eps[0]!, s500, 4);
    send(eps[0]!, ok);
    send(eps[0]!, s500, 4);
    assert.deepEqual(log, []);
  });

  it('returns the endpoint at the first sweep after base × 1, and ejects it for longer on repeat', () => {
    const { fake, eps, log, pickIps, send } = setup();
    const od = { consecutive_5xxErrors: 3 };
    pickIps(rr(od)); // sweeps at 10 s, 20 s, ... from here
    const cycle = (failAt: number, backBy: number, notBefore: number) => {
      fake.advance(failAt - (fake.now() - T0));
      send(eps[0]!, s503, 3);
      fake.advance(notBefore - failAt - 1);
      assert.equal(pickIps(rr(od), 8).has(eps[0]!.ip), false, `still out just before ${notBefore} ms`);
      fake.advance(backBy - notBefore + 1);
      assert.equal(pickIps(rr(od), 8).has(eps[0]!.ip), true, `back by ${backBy} ms`);
    };
    cycle(5_000, 40_000, 35_000); // 30 s: out at 5 s, back at the 40 s sweep
    cycle(41_000, 110_000, 101_000); // 60 s: out at 41 s, back at the 110 s sweep
    const ejections = log.filter((e) => e.kind === 'ejected').map((e) => (e.kind === 'ejected' ? e.ejectionMs : 0));
    assert.deepEqual(ejections, [30_000, 60_000]);
    assert.deepEqual(
      log.filter((e) => e.kind === 'returned').map((e) => e.at),
      [40_000, 110_000],
      'returns reported at the pick after the sweep',
    );
  });

  it('lowers the multiplier again while the endpoint stays healthy', () => {
    const { fake, eps, log, pickIps, send } = setup();
    const od = { consecutive_5xxErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 1000 };
    pickIps(rr(od));
    for (const outMs of [1000, 2000, 3000]) {
      send(eps[0]!, s503); // fails again as soon as it is back
      fake.advance(outMs);
      pickIps(rr(od));
    }
    fake.advance(2000); // two healthy sweeps: the multiplier goes 3 → 1
    pickIps(rr(od));
    send(eps[0]!, s503);
    fake.advance(2000);
    pickIps(rr(od));
    fake.advance(60_000); // sixty healthy sweeps: back to 0
    pickIps(rr(od));
    send(eps[0]!, s503);
    const ejections = log.filter((e) => e.kind === 'ejected').map((e) => (e.kind === 'ejected' ? e.ejectionMs : 0));
    assert.deepEqual(ejections, [1000, 2000, 3000, 2000, 1000]);
  });

  it('caps an ejection at 300 s (Envoy max_ejection_time)', () => {
    const { fake, eps, log, pickIps, send } = setup();
    const od = { consecutive_5xxErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 100_000 };
    pickIps(rr(od));
    for (const outMs of [100_000, 200_000, 300_000, 300_000, 300_000]) {
      send(eps[0]!, s503);
      fake.advance(outMs);
      pickIps(rr(od));
    }
    const ejections = log.filter((e) => e.kind === 'ejected').map((e) => (e.kind === 'ejected' ? e.ejectionMs : 0));
    assert.deepEqual(ejections, [100_000, 200_000, 300_000, 300_000, 300_000]);
  });

  it('counts only 502, 503, 504 and local failures as gateway errors', () => {
    const { eps, log, pickIps, send } = setup();
    const od = { consecutive_5xxErrors: 0, consecutiveGatewayErrors: 3 };
    pickIps(rr(od));
    send(eps[0]!, s500, 10);
    send(eps[1]!, { latencyMs: 1, status: 502 });
    send(eps[1]!, { latencyMs: 1, failure: 'connect' });
    send(eps[1]!, { latencyMs: 1, failure: 'timeout' });
    assert.deepEqual(
      log.map((e) => (e.kind === 'ejected' ? [e.endpoint, e.reason] : e.kind)),
      [[`${eps[1]!.ip}:8080`, 'consecutive_gateway_errors']],
    );
  });

  it('a 500 breaks a run of gateway errors but not a run of 5xx', () => {
    const { eps, log, pickIps, send } = setup();
    pickIps(rr({ consecutive_5xxErrors: 4, consecutiveGatewayErrors: 3 }));
    send(eps[0]!, s503, 2);
    send(eps[0]!, s500);
    send(eps[0]!, s503);
    assert.deepEqual(
      log.map((e) => (e.kind === 'ejected' ? e.reason : e.kind)),
      ['consecutive_5xx'],
    );
  });

  it('with consecutive5xxErrors: 0 and no gateway check, never ejects', () => {
    const { eps, log, pickIps, send } = setup();
    pickIps(rr({ consecutive_5xxErrors: 0 }));
    send(eps[0]!, s503, 100);
    assert.deepEqual(log, []);
  });

  it('does not count a cancelled try', () => {
    const { eps, log, pickIps, send } = setup();
    pickIps(rr({ consecutive_5xxErrors: 2 }));
    send(eps[0]!, s503);
    send(eps[0]!, { latencyMs: 1, failure: 'cancelled' });
    send(eps[0]!, ok);
    send(eps[0]!, s503);
    assert.deepEqual(log, [], 'the cancelled try neither counted nor broke the run; the success did');
  });

  it('never ejects more than maxEjectionPercent of the endpoints', () => {
    const { eps, log, pickIps, send } = setup(10);
    const od = { consecutive_5xxErrors: 1, maxEjectionPercent: 30 };
    pickIps(rr(od));
    for (const e of eps) send(e, s503);
    assert.equal(log.filter((e) => e.kind === 'ejected').length, 3);
    assert.equal(pickIps(rr(od), 20).size, 7);
  });

  it('may always eject one endpoint, whatever maxEjectionPercent says (as Envoy)', () => {
    const { eps, log, pickIps, send } = setup(4);
    pickIps(rr({ consecutive_5xxErrors: 1 })); // 10%: one of four is already 25%
    for (const e of eps) send(e, s503);
    assert.equal(log.filter((e) => e.kind === 'ejected').length, 1);
  });

  it('serves from every endpoint when none is healthy (panic), and says so', () => {
    const { eps, log, picker, send } = setup(2);
    const policy = rr({ consecutive_5xxErrors: 1, maxEjectionPercent: 100 });
    picker.pick(B, eps, policy, noContext);
    send(eps[0]!, s503);
    send(eps[1]!, s503);
    const picks = [picker.pick(B, eps, policy, noContext)!, picker.pick(B, eps, policy, noContext)!];
    assert.deepEqual(
      picks.map((p) => p.panic),
      [true, true],
    );
    assert.deepEqual(new Set(picks.map((p) => p.endpoint.ip)), new Set([eps[0]!.ip, eps[1]!.ip]));
    assert.equal(log.filter((e) => e.kind === 'panic').length, 2, 'one panic event per pick');
  });

  it('panics when the healthy share is below minHealthPercent', () => {
    for (const [minHealthPercent, panic] of [
      [80, true],
      [75, false],
      [0, false],
    ] as const) {
      const { eps, picker, send } = setup(4);
      const policy = rr({ consecutive_5xxErrors: 1, minHealthPercent });
      picker.pick(B, eps, policy, noContext);
      send(eps[0]!, s503); // 3 of 4 healthy: 75%
      const pick = picker.pick(B, eps, policy, noContext)!;
      assert.equal(pick.panic, panic, `minHealthPercent ${minHealthPercent}`);
    }
  });

  it('drops the record of an ejected endpoint that left the backend, without a return event', () => {
    const { fake, eps, log, picker, pickIps, send } = setup(4);
    const od = { consecutive_5xxErrors: 1 };
    pickIps(rr(od));
    send(eps[0]!, s503);
    assert.deepEqual(picker.ejectedCounts(), new Map([[B, 1]]));
    fake.advance(10_000);
    pickIps(rr(od), 3, eps.slice(1)); // the sweep sees the new endpoint set
    assert.deepEqual(picker.ejectedCounts(), new Map([[B, 0]]));
    assert.equal(log.filter((e) => e.kind === 'returned').length, 0);
  });

  it('returns every ejected endpoint when the DestinationRule drops outlier detection', () => {
    const { eps, log, picker, pickIps, send } = setup(4);
    pickIps(rr({ consecutive_5xxErrors: 1 }));
    send(eps[0]!, s503);
    assert.equal(pickIps(rr(), 8).size, 4);
    assert.deepEqual(
      log.map((e) => e.kind),
      ['ejected', 'returned'],
    );
    assert.deepEqual(picker.ejectedCounts(), new Map());
  });

  it('reports returns at a scrape too, with no traffic', () => {
    const { fake, eps, log, picker, pickIps, send } = setup(4);
    pickIps(rr({}));
    send(eps[0]!, s503, 5);
    fake.advance(45_000);
    assert.deepEqual(picker.ejectedCounts(), new Map([[B, 0]]));
    assert.deepEqual(
      log.map((e) => [e.kind, e.at]),
      [
        ['ejected', 0],
        ['returned', 45_000],
      ],
    );
  });

  it('forgets an idle backend with nothing ejected, but not one whose ejection is running', () => {
    const { fake, eps, picker, pickIps, send } = setup(4);
    const od = { consecutive_5xxErrors: 1, baseEjectionTimeMs: 3_600_000 };
    pickIps(rr(od));
    send(eps[0]!, s503);
    fake.advance(11 * 60_000);
    picker.pick('other:80', eps, undefined, noContext); // triggers the collection
    assert.deepEqual(picker.ejectedCounts(), new Map([[B, 1]]));
    fake.advance(3_600_000);
    picker.pick('other:80', eps, undefined, noContext);
    assert.deepEqual(picker.ejectedCounts(), new Map());
  });
});
