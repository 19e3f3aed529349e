import assert from 'node:assert/strict';
import type { TrafficPolicy } from '@ambient/api';
import { backendHostname, backendKey, EndpointPicker } from '../../src/balance/endpoint-picker.ts';
import { seededRandom } from '@ambient/api/testing';
import { endpoints, ep, noContext, simulate, T0, virtualTime } from './balance-fixtures.ts';

const three = [ep('10.0.0.1'), ep('10.0.0.2'), ep('10.0.0.3')];
const policy = (p: Omit<TrafficPolicy, 'name'>): TrafficPolicy => ({ name: 'shop/reviews', ...p });

function picker(random: () => number = seededRandom(7)) {
  const { fake, clock } = virtualTime();
  return { fake, picker: new EndpointPicker({ clock, random }) };
}

describe('endpoint picker', () => {
  it('has nothing to pick from an empty set', () => {
    assert.equal(picker().picker.pick('b', [], undefined, noContext), undefined);
  });

  for (const lb of ['ROUND_ROBIN', 'PASSTHROUGH'] as const) {
    it(`round-robins with ${lb}, per backend`, () => {
      const { picker: p } = picker();
      const rr = policy({ loadBalancer: lb });
      assert.deepEqual(
        [0, 1, 2, 3].map(() => p.pick('a', three, rr, noContext)?.endpoint.ip),
        ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1'],
      );
      assert.equal(p.pick('b', three, rr, noContext)?.endpoint.ip, '10.0.0.1', 'another backend has its own cursor');
    });
  }

  it('picks at random with RANDOM', () => {
    const { picker: p } = picker(() => 0.99);
    assert.equal(p.pick('a', three, policy({ loadBalancer: 'RANDOM' }), noContext)?.endpoint.ip, '10.0.0.3');
  });

  it('prefers the less loaded of two candidates with LEAST_REQUEST, and forgets finished requests', () => {
    const { picker: p } = picker(() => 0); // candidates: index 0 and index 1
    const lr = policy({ loadBalancer: 'LEAST_REQUEST' });
    p.started(three[0]!);
    assert.equal(p.pick('a', three, lr, noContext)?.endpoint.ip, '10.0.0.2');
    p.finished('a', three[0]!, { latencyMs: 5, status: 200 });
    assert.equal(p.inFlight(three[0]!), 0);
    assert.equal(p.pick('a', three, lr, noContext)?.endpoint.ip, '10.0.0.1');
  });

  it('never answers panic without outlier detection', () => {
    const { picker: p } = picker();
    assert.equal(p.pick('a', three, undefined, noContext)?.panic, false);
  });

  it('names backends "<hostname>:<port>" and reads the hostname back', () => {
    assert.equal(backendKey('reviews.shop.svc.cluster.local', 9080), 'reviews.shop.svc.cluster.local:9080');
    assert.equal(backendHostname('reviews.shop.svc.cluster.local:9080'), 'reviews.shop.svc.cluster.local');
  });

  describe('default (LB_UNSPECIFIED): power of two choices over peak-EWMA latency', () => {
    for (const concurrency of [1, 8, 32]) {
      it(`sends < 15% of 10 000 picks to an endpoint 10× slower than two others (concurrency ${concurrency})`, () => {
        const { fake, picker: p } = picker(seededRandom(42));
        const counts = simulate({
          picker: p,
          fake,
          endpoints: three,
          concurrency,
          picks: 10_000,
          respond: (i) => ({ latencyMs: i === 0 ? 100 : 10, status: 200 }),
        });
        assert.ok(counts[0]! < 1500, `slow endpoint got ${counts[0]} of 10000 (${counts.join('/')})`);
        assert.ok(Math.abs(counts[1]! - counts[2]!) < 1000, `the fast ones share evenly: ${counts.join('/')}`);
      });
    }

    it('sends little traffic to an endpoint that fails fast (1 ms 503s) while the others answer in 10 ms', () => {
      const { fake, picker: p } = picker(seededRandom(42));
      const counts = simulate({
        picker: p,
        fake,
        endpoints: three,
        concurrency: 8,
        picks: 10_000,
        respond: (i) => (i === 0 ? { latencyMs: 1, status: 503 } : { latencyMs: 10, status: 200 }),
      });
      assert.ok(counts[0]! < 500, `failing endpoint got ${counts[0]} of 10000`);
    });

    it('counts a connect failure, a reset and a timeout as failures too', () => {
      for (const failure of ['connect', 'reset', 'timeout'] as const) {
        const { fake, picker: p } = picker(seededRandom(42));
        const counts = simulate({
          picker: p,
          fake,
          endpoints: three,
          concurrency: 4,
          picks: 3000,
          respond: (i) => (i === 0 ? { latencyMs: 1, failure } : { latencyMs: 10, status: 200 }),
        });
        assert.ok(counts[0]! < 300, `${failure}: failing endpoint got ${counts[0]} of 3000`);
      }
    });

    it('gives a recovered endpoint its share back within two minutes of virtual time', () => {
      const { fake, picker: p } = picker(seededRandom(42));
      let failing = true;
      const respond = (i: number) => (i === 0 && failing ? { latencyMs: 1, status: 503 } : { latencyMs: 10, status: 200 });
      simulate({ picker: p, fake, endpoints: three, concurrency: 4, picks: 5000, respond });
      failing = false;
      simulate({ picker: p, fake, endpoints: three, concurrency: 4, picks: 48_000, respond }); // ~2 min at 4 × 100/s
      const after = simulate({ picker: p, fake, endpoints: three, concurrency: 4, picks: 6000, respond });
      assert.ok(after[0]! > 1200, `recovered endpoint got ${after[0]} of 6000 (${after.join('/')})`);
    });

    it('weighs requests in flight: an idle endpoint beats a faster one that is busy', () => {
      const { fake, picker: p } = picker(() => 0); // candidates: index 0 and index 1
      const [fast, idle] = three;
      p.started(fast!);
      p.finished('a', fast!, { latencyMs: 10, status: 200 });
      p.started(idle!);
      p.finished('a', idle!, { latencyMs: 25, status: 200 });
      fake.advance(1);
      assert.equal(p.pick('a', three, undefined, noContext)?.endpoint, fast, '10 × 1 < 25 × 1');
      for (let i = 0; i < 3; i++) p.started(fast!);
      assert.equal(p.pick('a', three, undefined, noContext)?.endpoint, idle, '10 × 4 > 25 × 1');
    });

    it('takes a slower sample at once, and lets a faster one in gradually', () => {
      const { fake, picker: p } = picker();
      const e = three[0]!;
      p.started(e);
      p.finished('a', e, { latencyMs: 10, status: 200 });
      p.started(e);
      p.finished('a', e, { latencyMs: 200, status: 200 });
      assert.equal(p.estimateMs(e), 200, 'a peak is taken at once');
      fake.advance(1000);
      p.started(e);
      p.finished('a', e, { latencyMs: 10, status: 200 });
      const after1s = p.estimateMs(e)!;
      assert.ok(after1s > 170 && after1s < 200, `one second later a 10 ms sample moves it ~10% of the way: ${after1s}`);
    });

    it('does not count a cancelled try (the client went away) against the endpoint', () => {
      const { picker: p } = picker();
      const e = three[0]!;
      p.started(e);
      p.finished('a', e, { latencyMs: 10, status: 200 });
      p.started(e);
      p.finished('a', e, { latencyMs: 1, failure: 'cancelled' });
      assert.equal(p.estimateMs(e), 10);
      assert.equal(p.inFlight(e), 0);
    });

    it('forgets endpoints and backends idle for ten minutes', () => {
      const { fake, picker: p } = picker();
      const e = three[0]!;
      p.started(e);
      p.finished('a', e, { latencyMs: 10, status: 200 });
      fake.advance(5 * 60_000);
      p.pick('other', [ep('10.0.9.9')], undefined, noContext);
      assert.notEqual(p.estimateMs(e), undefined, 'still known after five minutes');
      fake.advance(6 * 60_000);
      p.pick('other', [ep('10.0.9.9')], undefined, noContext);
      assert.equal(p.estimateMs(e), undefined, 'forgotten after eleven');
    });

    it('never forgets an endpoint with a request in flight', () => {
      const { fake, picker: p } = picker();
      const e = three[0]!;
      p.started(e);
      fake.advance(30 * 60_000);
      p.pick('other', [ep('10.0.9.9')], undefined, noContext);
      assert.equal(p.inFlight(e), 1);
    });
  });

  describe('consistent hash', () => {
    const many = endpoints(10);
    const byHeader = policy({ consistentHash: { httpHeaderName: 'x-user' } });

    it('sends the same key to the same endpoint, and different keys across the endpoints', () => {
      const { picker: p } = picker();
      const seen = new Set<string>();
      for (let u = 0; u < 200; u++) {
        const ctx = { ...noContext, headers: { 'x-user': `user-${u}` } };
        const first = p.pick('a', many, byHeader, ctx)!.endpoint;
        for (let i = 0; i < 3; i++) assert.equal(p.pick('a', many, byHeader, ctx)!.endpoint, first);
        seen.add(first.ip);
      }
      assert.equal(seen.size, 10, 'every endpoint owns some keys');
    });

    it('maps a key the same way whatever order the endpoints come in (waypoint replicas agree)', () => {
      const { picker: a } = picker();
      const { picker: b } = picker();
      const reversed = [...many].reverse();
      for (let u = 0; u < 100; u++) {
        const ctx = { ...noContext, headers: { 'x-user': `user-${u}` } };
        assert.equal(a.pick('x', many, byHeader, ctx)!.endpoint.ip, b.pick('x', reversed, byHeader, ctx)!.endpoint.ip);
      }
    });

    it('moves only about 1/N of the keys when one of N endpoints goes away', () => {
      const { picker: p } = picker();
      const fewer = many.filter((_, i) => i !== 3);
      const keys = Array.from({ length: 5000 }, (_, u) => ({ ...noContext, headers: { 'x-user': `user-${u}` } }));
      const before = keys.map((ctx) => p.pick('a', many, byHeader, ctx)!.endpoint.ip);
      const after = keys.map((ctx) => p.pick('a', fewer, byHeader, ctx)!.endpoint.ip);
      const moved = before.filter((ip, i) => ip !== after[i]).length;
      const lost = before.filter((ip) => ip === many[3]!.ip).length;
      assert.ok(moved >= lost, 'every key of the removed endpoint moved');
      assert.ok(moved < keys.length * 0.15, `${moved} of ${keys.length} keys moved (${lost} were on the removed endpoint)`);
    });

    it('picks at random when the request has no key', () => {
      const { picker: p } = picker(seededRandom(3));
      const seen = new Set(Array.from({ length: 100 }, () => p.pick('a', many, byHeader, noContext)!.endpoint.ip));
      assert.ok(seen.size > 5, `${seen.size} endpoints`);
    });

    it('hashes the source IP', () => {
      const { picker: p } = picker();
      const bySource = policy({ consistentHash: { useSourceIp: true } });
      const ips = Array.from({ length: 50 }, (_, i) => `10.1.0.${i + 1}`);
      const picks = ips.map((sourceIp) => p.pick('a', many, bySource, { ...noContext, sourceIp })!.endpoint);
      for (const [i, sourceIp] of ips.entries()) assert.equal(p.pick('a', many, bySource, { ...noContext, sourceIp })!.endpoint, picks[i]);
      assert.ok(new Set(picks).size > 5);
    });

    it('hashes a query parameter', () => {
      const { picker: p } = picker();
      const byQuery = policy({ consistentHash: { httpQueryParameterName: 'cart' } });
      const a = p.pick('a', many, byQuery, { ...noContext, path: '/checkout?x=1&cart=42' })!.endpoint;
      assert.equal(p.pick('a', many, byQuery, { ...noContext, path: '/other?cart=42' })!.endpoint, a);
    });

    it('generates a cookie when it is missing and ttl is set, and the cookie then sticks', () => {
      const { picker: p } = picker(seededRandom(9));
      const byCookie = policy({ consistentHash: { httpCookie: { name: 'lb', path: '/', ttlMs: 60_000 } } });
      const first = p.pick('a', many, byCookie, noContext)!;
      assert.match(first.setCookie ?? '', /^lb=[0-9a-f]{16}; Path=\/; Max-Age=60; HttpOnly$/);
      const value = first.setCookie!.split(';')[0]!;
      for (let i = 0; i < 5; i++) {
        const next = p.pick('a', many, byCookie, { ...noContext, headers: { cookie: `other=1; ${value}` } })!;
        assert.equal(next.endpoint, first.endpoint);
        assert.equal(next.setCookie, undefined, 'a request that has the cookie gets no new one');
      }
    });

    it('does not generate a cookie without a ttl', () => {
      const { picker: p } = picker();
      const pick = p.pick('a', many, policy({ consistentHash: { httpCookie: { name: 'lb' } } }), noContext)!;
      assert.equal(pick.setCookie, undefined);
    });

    it('moves the keys of an ejected endpoint elsewhere, and back when it returns', () => {
      const { fake, picker: p } = picker();
      const hashed = policy({ consistentHash: { httpHeaderName: 'x-user' }, outlierDetection: { maxEjectionPercent: 100 } });
      const ctx = { ...noContext, headers: { 'x-user': 'alice' } };
      const home = p.pick('a', many, hashed, ctx)!.endpoint;
      for (let i = 0; i < 5; i++) p.finished('a', home, { latencyMs: 1, status: 500 });
      const away = p.pick('a', many, hashed, ctx)!.endpoint;
      assert.notEqual(away, home);
      assert.equal(p.pick('a', many, hashed, ctx)!.endpoint, away, 'and stays there while it is out');
      fake.advance(40_000);
      assert.equal(p.pick('a', many, hashed, ctx)!.endpoint, home);
    });
  });

  it('starts virtual time at T0 (fixture check)', () => {
    assert.equal(virtualTime().clock.now(), T0);
  });
});
