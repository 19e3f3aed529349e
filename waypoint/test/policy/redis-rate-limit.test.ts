import assert from 'node:assert/strict';
import { type RedisServer, startRedisServer } from '@ambient/api/testing';
import { Redis } from 'ioredis';
import { MissingRateLimitStore, type RedisCounter, RedisRateLimitStore, type RedisTake, redisRateArgs } from '../../src/policy/redis-rate-limit.ts';
import { settlesWithin, until } from './until.ts';

function counter(key: string, ...rates: [number, number][]): RedisCounter {
  return { key, rateArgs: redisRateArgs(rates.map(([limit, windowMs]) => ({ limit, windowMs }))) };
}

describe('RedisRateLimitStore (a real redis-server)', () => {
  let redis: RedisServer;
  let admin: Redis;
  let store: RedisRateLimitStore;
  let ups: boolean[];

  before(async () => {
    redis = await startRedisServer();
    admin = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
  });
  after(async () => {
    admin?.disconnect();
    await redis?.stop();
  });
  beforeEach(async () => {
    if (!redis.running) await redis.restart();
    await admin.flushall();
    const seen: boolean[] = [];
    ups = seen;
    store = new RedisRateLimitStore({ address: redis.address, timeoutMs: 1000, onConnection: (up) => seen.push(up), backoff: { initialMs: 20, maxMs: 100 } });
    await until(() => store.up, 'store connected');
  });
  afterEach(async () => {
    await store?.close();
  });

  /** Redis's clock in µs, the one the script uses. */
  async function redisNowUs(): Promise<number> {
    const [s, us] = await admin.time();
    return Number(s) * 1_000_000 + Number(us);
  }

  /** Log entries as if admitted `agoMs` before now. */
  async function admittedBefore(key: string, count: number, agoMs: number): Promise<void> {
    const at = (await redisNowUs()) - agoMs * 1000;
    for (let i = 0; i < count; i++) await admin.zadd(key, at, `seeded-${agoMs}-${i}`);
  }

  it('admits up to the limit and then refuses, naming the counter and rate', async () => {
    const c = counter('k', [3, 60_000]);
    const takes: RedisTake[] = [];
    for (let i = 0; i < 5; i++) takes.push(await store.take([c]));
    assert.deepEqual(
      takes.map((t) => t.kind),
      ['allowed', 'allowed', 'allowed', 'limited', 'limited'],
    );
    const refused = takes[3]!;
    assert.ok(refused.kind === 'limited');
    assert.equal(refused.counter, 0);
    assert.equal(refused.rate, 0);
    assert.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000, `${refused.retryAfterMs}`);
    assert.equal(await admin.zcard('k'), 3, 'refused requests are not logged');
  });

  it('slides: entries older than the window no longer count, the oldest in it sets the wait', async () => {
    const c = counter('k', [3, 10_000]);
    await admittedBefore('k', 3, 11_000);
    assert.equal((await store.take([c])).kind, 'allowed', 'all three left the window');
    assert.equal(await admin.zcard('k'), 1, 'and were trimmed');
    await admittedBefore('k', 2, 6000);
    const refused = await store.take([c]);
    assert.ok(refused.kind === 'limited');
    // The two entries from 6 s ago leave the 10 s window in 4 s; the third is newer.
    assert.ok(refused.retryAfterMs > 3000 && refused.retryAfterMs <= 4000, `${refused.retryAfterMs}`);
  });

  it('needs every rate of a counter: a long window refuses what the short one allows', async () => {
    const c = counter('k', [2, 1000], [3, 60_000]);
    await admittedBefore('k', 3, 2000);
    const refused = await store.take([c]);
    assert.ok(refused.kind === 'limited');
    assert.equal(refused.rate, 1);
    assert.ok(refused.retryAfterMs > 57_000 && refused.retryAfterMs <= 58_000, `${refused.retryAfterMs}`);
  });

  it('checks every counter before recording any: a request one refuses is counted by none', async () => {
    await admittedBefore('full', 1, 1000);
    const take = await store.take([counter('open', [10, 60_000]), counter('full', [1, 60_000])]);
    assert.ok(take.kind === 'limited');
    assert.equal(take.counter, 1);
    assert.equal(await admin.exists('open'), 0);
    assert.equal((await store.take([counter('open', [10, 60_000]), counter('other', [10, 60_000])])).kind, 'allowed');
    assert.deepEqual([await admin.zcard('open'), await admin.zcard('other')], [1, 1]);
  });

  it('expires a counter after its longest window', async () => {
    await store.take([counter('k', [5, 1000], [5, 90_000])]);
    const ttl = await admin.pttl('k');
    assert.ok(ttl > 85_000 && ttl <= 90_000, `${ttl}`);
  });

  it('reports the connection, and a crashed Redis as a store error promptly, never a rejection', async () => {
    assert.deepEqual(ups, [true]);
    await redis.kill();
    const take = await settlesWithin(store.take([counter('k', [5, 1000])]), 2000);
    assert.ok(take.kind === 'store-error');
    assert.equal(take.error.code, 'ERR_RATE_LIMIT_STORE');
    assert.match(take.error.message, new RegExp(`^rate limit store redis ${redis.address}: `));
    await until(() => ups.at(-1) === false, 'down reported');
    const later = await settlesWithin(store.take([counter('k', [5, 1000])]), 200);
    assert.ok(later.kind === 'store-error');
    assert.match(later.error.message, /not connected/);
    await redis.restart();
    await until(() => store.up, 'reconnected');
    assert.deepEqual(ups, [true, false, true]);
    assert.equal((await store.take([counter('k', [5, 1000])])).kind, 'allowed');
    await store.close();
    assert.deepEqual(ups, [true, false, true, false], 'close reports it down, once');
  });

  it('gives up on a Redis that does not answer after its timeout', async () => {
    const fast = new RedisRateLimitStore({ address: redis.address, timeoutMs: 50 });
    try {
      await until(() => fast.up, 'connected');
      redis.pause();
      const take = await settlesWithin(fast.take([counter('k', [5, 1000])]), 1000);
      assert.ok(take.kind === 'store-error');
      assert.match(take.error.message, /no answer within 50ms/);
    } finally {
      redis.resume();
      await fast.close();
    }
  });

  it('answers a store error after close', async () => {
    await store.close();
    const take = await store.take([counter('k', [1, 1000])]);
    assert.ok(take.kind === 'store-error');
    assert.match(take.error.message, /client closed/);
  });

  it('MissingRateLimitStore says what is missing', async () => {
    const take = await new MissingRateLimitStore().take();
    assert.ok(take.kind === 'store-error');
    assert.match(take.error.message, /no spec.store.address and the waypoint has no --redis-address/);
  });

  it('rejects an address it cannot dial', () => {
    assert.throws(() => new RedisRateLimitStore({ address: 'redis', timeoutMs: 50 }), /invalid redis address "redis"/);
  });
});
