import assert from 'node:assert/strict';
import { type RedisServer, startRedisServer } from '@ambient/api/testing';
import { FakeClock } from '@ambient/api/testing';
import { Redis } from 'ioredis';
import { type RateLimitOutcome, RateLimiter, type RateLimitRequest, type RateLimitScope } from '../../src/policy/rate-limiter.ts';
import { policy, recordingEvents, req } from './rate-limit-fixtures.ts';
import { settlesWithin, until } from './until.ts';

const gateway = { namespace: 'shop', name: 'waypoint' };
const toReviews: RateLimitScope = { gateway, service: { namespace: 'shop', name: 'reviews' } };
const toRatings: RateLimitScope = { gateway, service: { namespace: 'shop', name: 'ratings' } };
const reviewsRef = { group: '', kind: 'Service', name: 'reviews' };
const ratingsRef = { group: '', kind: 'Service', name: 'ratings' };
const fastReconnect = { initialMs: 20, maxMs: 100 };

/** A Redis check's answer within a bound far above any timeout used here: a check must never hang. */
function checked(limiter: RateLimiter, scope: RateLimitScope, r: RateLimitRequest = req): Promise<RateLimitOutcome> {
  return settlesWithin(Promise.resolve(limiter.check(scope, r)), 2000);
}

describe('RateLimiter with a Redis store (a real redis-server)', () => {
  let redis: RedisServer;
  let admin: Redis;
  const limiters: RateLimiter[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  function limiter(events = recordingEvents(), redisAddress?: string): { limiter: RateLimiter; events: ReturnType<typeof recordingEvents> } {
    const l = new RateLimiter({ clock: new FakeClock(), events, redisBackoff: fastReconnect, ...(redisAddress === undefined ? {} : { redisAddress }) });
    limiters.push(l);
    return { limiter: l, events };
  }

  before(async () => {
    redis = await startRedisServer();
    admin = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
    process.on('unhandledRejection', onUnhandled);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    admin?.disconnect();
    await redis?.stop();
  });
  beforeEach(async () => {
    if (!redis.running) await redis.restart();
    await until(() => admin.status === 'ready', 'admin connected');
    await admin.flushall();
  });
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  });

  it('two replicas sharing Redis admit exactly N of 3N concurrent requests, per counter value', async () => {
    const N = 40;
    const spec = {
      targetRefs: [reviewsRef],
      limits: { 'per-caller': { rates: [{ limit: N, window: '1m' }], counters: [{ expression: 'source.principal' }] } },
      store: { type: 'Redis', address: redis.address, timeout: '1s' },
    };
    const a = limiter();
    const b = limiter();
    a.limiter.update([policy('shared', spec)]);
    b.limiter.update([policy('shared', spec)]);
    await until(
      () => a.events.log.includes(`connection ${redis.address} up`) && b.events.log.includes(`connection ${redis.address} up`),
      'both replicas connected',
    );
    const alice = { ...req, sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/alice' };
    const bob = { ...req, sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/bob' };
    const outcomes = await Promise.all(
      Array.from({ length: 3 * N }, (_, i) => [
        checked(i % 2 === 0 ? a.limiter : b.limiter, toReviews, alice),
        checked(i % 2 === 0 ? b.limiter : a.limiter, toReviews, bob),
      ]).flat(),
    );
    const count = (who: number, kind: string) => outcomes.filter((o, i) => i % 2 === who && o.kind === kind).length;
    assert.deepEqual([count(0, 'allowed'), count(0, 'limited'), count(1, 'allowed'), count(1, 'limited')], [N, 2 * N, N, 2 * N]);
    const refused = outcomes.find((o) => o.kind === 'limited');
    assert.ok(refused?.kind === 'limited');
    assert.equal(refused.policy, 'shop/shared');
    assert.equal(refused.limit, 'per-caller');
    assert.equal(refused.headers['x-ratelimit-limit'], `${N}, ${N};w=60`);
    assert.equal(refused.headers['x-ratelimit-remaining'], '0');
    assert.ok(Number(refused.headers['retry-after']) >= 59 && Number(refused.headers['retry-after']) <= 60, refused.headers['retry-after']);
    const limitedEvents = [...a.events.log, ...b.events.log].filter((l) => l === 'limited shop/shared per-caller').length;
    assert.equal(limitedEvents, 4 * N);
    // One sorted set per caller, holding exactly the admitted requests.
    const keys = (await admin.keys('ambient-rl:*')).sort();
    assert.deepEqual(keys, [alice, bob].map((r) => `ambient-rl:shop/shared/per-caller:${r.sourcePrincipal.length}:${r.sourcePrincipal}`).sort());
    for (const key of keys) assert.equal(await admin.zcard(key), N);
  });

  it('checks local limits first and synchronously; Redis only when they pass', async () => {
    const { limiter: l, events } = limiter();
    l.update([
      policy('local', { targetRefs: [reviewsRef], limits: { api: { rates: [{ limit: 1, window: '1m' }] } } }),
      policy('global', {
        targetRefs: [reviewsRef],
        limits: { api: { rates: [{ limit: 10, window: '1m' }] } },
        store: { type: 'Redis', address: redis.address },
      }),
    ]);
    await until(() => events.log.includes(`connection ${redis.address} up`), 'connected');
    assert.deepEqual(l.check(toRatings, req), { kind: 'allowed' }, 'no limit applies: synchronous');
    const first = l.check(toReviews, req);
    assert.ok(first instanceof Promise);
    assert.equal((await first).kind, 'allowed');
    const second = l.check(toReviews, req);
    assert.ok(!(second instanceof Promise), 'refused locally without asking Redis');
    assert.equal(second.kind === 'limited' && second.policy, 'shop/local');
    assert.equal(await admin.zcard('ambient-rl:shop/global/api:'), 1);
  });

  it('Redis killed: a fail-open policy admits, a fail-closed one refuses, promptly, each counted', async () => {
    const { limiter: l, events } = limiter();
    const store = (failureMode: string) => ({ type: 'Redis', address: redis.address, failureMode, timeout: '50ms' });
    l.update([
      policy('open', { targetRefs: [reviewsRef], limits: { api: { rates: [{ limit: 100, window: '1m' }] } }, store: store('Open') }),
      policy('closed', { targetRefs: [ratingsRef], limits: { api: { rates: [{ limit: 100, window: '1m' }] } }, store: store('Closed') }),
    ]);
    await until(() => events.log.includes(`connection ${redis.address} up`), 'connected');
    assert.equal((await checked(l, toReviews)).kind, 'allowed');
    await redis.kill();
    // Right after the crash (the client may not know yet) and after it noticed: bounded either way.
    const outcomes = [await checked(l, toReviews), await checked(l, toRatings)];
    await until(() => events.log.includes(`connection ${redis.address} down`), 'down reported');
    outcomes.push(await checked(l, toReviews), await checked(l, toRatings));
    for (const [i, o] of outcomes.entries()) {
      assert.ok(o.kind === 'store-error', `${i}: ${o.kind}`);
      assert.equal(o.policy, i % 2 === 0 ? 'shop/open' : 'shop/closed');
      assert.equal(o.failClosed, i % 2 === 1);
      assert.match(o.error.message, new RegExp(`^rate limit store redis ${redis.address}: `));
    }
    assert.deepEqual(
      events.log.filter((e) => e.startsWith('store-error')),
      ['store-error shop/open open', 'store-error shop/closed closed', 'store-error shop/open open', 'store-error shop/closed closed'],
    );
  });

  it('Redis frozen: a check gives up after the policy timeout', async () => {
    const { limiter: l, events } = limiter();
    l.update([
      policy('slow', {
        targetRefs: [reviewsRef],
        limits: { api: { rates: [{ limit: 100, window: '1m' }] } },
        store: { type: 'Redis', address: redis.address, timeout: '50ms', failureMode: 'Closed' },
      }),
    ]);
    await until(() => events.log.includes(`connection ${redis.address} up`), 'connected');
    redis.pause();
    try {
      const o = await checked(l, toReviews);
      assert.ok(o.kind === 'store-error' && o.failClosed);
      assert.match(o.error.message, /no answer within 50ms/);
    } finally {
      redis.resume();
    }
    await until(async () => (await checked(l, toReviews)).kind === 'allowed', 'answers again');
  });

  it('recovers once Redis is back: counting again, from empty', async () => {
    const { limiter: l, events } = limiter();
    l.update([
      policy('p', { targetRefs: [reviewsRef], limits: { api: { rates: [{ limit: 2, window: '1m' }] } }, store: { type: 'Redis', address: redis.address } }),
    ]);
    await until(() => events.log.includes(`connection ${redis.address} up`), 'connected');
    assert.deepEqual(
      [(await checked(l, toReviews)).kind, (await checked(l, toReviews)).kind, (await checked(l, toReviews)).kind],
      ['allowed', 'allowed', 'limited'],
    );
    await redis.kill();
    assert.equal((await checked(l, toReviews)).kind, 'store-error');
    await redis.restart();
    await until(async () => (await checked(l, toReviews)).kind === 'allowed', 'allowed again after the restart');
    assert.equal((await checked(l, toReviews)).kind, 'allowed');
    assert.equal((await checked(l, toReviews)).kind, 'limited');
    const connections = events.log.filter((e) => e.startsWith('connection'));
    assert.deepEqual(connections.slice(0, 3), [`connection ${redis.address} up`, `connection ${redis.address} down`, `connection ${redis.address} up`]);
  });

  it('uses the waypoint’s --redis-address for a policy that names none, and its failure mode without one', async () => {
    const spec = { targetRefs: [reviewsRef], limits: { api: { rates: [{ limit: 1, window: '1m' }] } }, store: { type: 'Redis', failureMode: 'Closed' } };
    const withFlag = limiter(recordingEvents(), redis.address).limiter;
    withFlag.update([policy('p', spec)]);
    await until(async () => (await checked(withFlag, toReviews)).kind === 'allowed', 'counted in redis');
    assert.equal((await checked(withFlag, toReviews)).kind, 'limited');
    const { limiter: without, events } = limiter();
    without.update([policy('p', spec)]);
    const o = await checked(without, toReviews);
    assert.ok(o.kind === 'store-error' && o.failClosed);
    assert.match(o.error.message, /names no spec.store.address and the waypoint has no --redis-address/);
    assert.deepEqual(events.log, ['store-error shop/p closed']);
  });

  it('closes a Redis client no policy uses any more, and all of them on close', async () => {
    const { limiter: l, events } = limiter();
    const on = { targetRefs: [reviewsRef], limits: { api: { rates: [{ limit: 5, window: '1m' }] } }, store: { type: 'Redis', address: redis.address } };
    l.update([policy('p', on)]);
    await until(() => events.log.includes(`connection ${redis.address} up`), 'connected');
    const clients = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line: string) => line.includes('name=ambient-waypoint-rate-limit')).length;
    assert.equal(await clients(), 1);
    l.update([policy('p', { ...on, store: { type: 'Local' } })]);
    assert.deepEqual(events.log.at(-1), `connection ${redis.address} down`);
    await until(async () => (await clients()) === 0, 'client gone');
    l.update([policy('p', on)]);
    await until(() => events.log.at(-1) === `connection ${redis.address} up`, 'a new client');
    await l.close();
    await until(async () => (await clients()) === 0, 'client gone after close');
  });
});
