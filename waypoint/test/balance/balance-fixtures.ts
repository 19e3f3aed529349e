// What the balancing tests share: endpoints, virtual time, a seeded random, a recorder of outlier
// events, and a closed-loop traffic simulation in virtual time.
import type { Clock, TrafficPolicy, Workload } from '@ambient/api';
import { FakeClock } from '@ambient/api/testing';
import type { EndpointPicker, PickContext, TryResult } from '../../src/balance/endpoint-picker.ts';
import type { EjectionReason, OutlierEvents } from '../../src/balance/outlier-detector.ts';
import type { Endpoint } from '../../src/config/waypoint-state.ts';

export const T0 = 1_700_000_000_000;

export function ep(ip: string, port = 8080): Endpoint {
  return { ip, port, workload: { uid: ip, name: ip, namespace: 'shop', identity: `spiffe://cluster.local/ns/shop/sa/${ip}` } as Workload };
}

export function endpoints(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ep(`10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`));
}

export function virtualTime(): { fake: FakeClock; clock: Clock } {
  const fake = new FakeClock(T0);
  return { fake, clock: { now: fake.now, ...fake.timers } };
}

export const noContext: PickContext = { headers: {}, sourceIp: '10.1.0.1', path: '/' };

export type OutlierEvent =
  | { kind: 'ejected'; backend: string; endpoint: string; reason: EjectionReason; ejectionMs: number; at: number }
  | { kind: 'returned'; backend: string; endpoint: string; at: number }
  | { kind: 'panic'; backend: string; at: number };

export function recordEvents(clock: Clock): { events: OutlierEvents; log: OutlierEvent[] } {
  const log: OutlierEvent[] = [];
  return {
    log,
    events: {
      ejected: (backend, endpoint, reason, ejectionMs) => log.push({ kind: 'ejected', backend, endpoint, reason, ejectionMs, at: clock.now() - T0 }),
      returned: (backend, endpoint) => log.push({ kind: 'returned', backend, endpoint, at: clock.now() - T0 }),
      panic: (backend) => log.push({ kind: 'panic', backend, at: clock.now() - T0 }),
    },
  };
}

/**
 * Closed-loop traffic in virtual time: `concurrency` clients each pick an endpoint, hold it for
 * the latency `respond` gives, report the result, and pick again, until `picks` picks were made.
 * Returns the picks per endpoint index.
 */
export function simulate(o: {
  picker: EndpointPicker;
  fake: FakeClock;
  endpoints: readonly Endpoint[];
  policy?: TrafficPolicy;
  concurrency: number;
  picks: number;
  respond: (index: number) => TryResult;
}): number[] {
  const counts = new Array<number>(o.endpoints.length).fill(0);
  const inFlight: { at: number; index: number; result: TryResult }[] = [];
  const issue = (): void => {
    const picked = o.picker.pick('reviews:80', o.endpoints, o.policy, noContext)!;
    const index = o.endpoints.indexOf(picked.endpoint);
    counts[index]!++;
    o.picker.started(picked.endpoint);
    const result = o.respond(index);
    inFlight.push({ at: o.fake.now() + result.latencyMs, index, result });
  };
  for (let c = 0; c < o.concurrency; c++) issue();
  for (let made = o.concurrency; made < o.picks; made++) {
    let next = 0;
    for (let i = 1; i < inFlight.length; i++) if (inFlight[i]!.at < inFlight[next]!.at) next = i;
    const done = inFlight.splice(next, 1)[0]!;
    o.fake.advance(done.at - o.fake.now());
    o.picker.finished('reviews:80', o.endpoints[done.index]!, done.result);
    issue();
  }
  return counts;
}
