import assert from 'node:assert/strict';
import type { Timers } from '@ambient/api';
import { HbonePool, poolKey } from '../src/hbone-pool.ts';
import { CLIENT_ID, SERVER_ID, clientContext, closeHarness, exchange, startHarness, type Harness } from './hbone-fixtures.ts';

/** Virtual time for the pool's idle and keepalive timers; sockets stay real. */
class FakeTimers implements Timers {
  now = 0;
  #next = 0;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (let guard = 0; guard < 1000; guard++) {
      const due = [...this.pending].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = until;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('HbonePool lifecycle', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
    h = undefined;
  });

  const request = (port: number) => ({
    source: { identity: CLIENT_ID, context: clientContext },
    destination: { ip: '10.0.0.9', port: 80 },
    hboneAddress: { ip: '127.0.0.1', port },
    expectedIdentities: [SERVER_ID],
  });

  it('releases a connection after it has been idle for the configured time, not before', async () => {
    h = await startHarness();
    const timers = new FakeTimers();
    pool = new HbonePool({ timers, idleTimeoutMs: 1000, keepaliveIntervalMs: 3_600_000 });
    await exchange(await pool.connect(request(h.port)), 'x');
    await until(() => [...timers.pending.values()].some((t) => t.at === 1000), 'the idle timer to start');
    timers.advance(999);
    assert.equal(pool.connectionCount, 1);
    timers.advance(1);
    assert.equal(pool.connectionCount, 0);
    await exchange(await pool.connect(request(h.port)), 'y');
    assert.equal(h.server.stats.connections, 2, 'a released connection is not reused');
  });

  it('does not release a connection while a stream is open on it', async () => {
    h = await startHarness();
    const timers = new FakeTimers();
    pool = new HbonePool({ timers, idleTimeoutMs: 1000, keepaliveIntervalMs: 3_600_000 });
    const held = await pool.connect(request(h.port));
    timers.advance(10_000);
    assert.equal(pool.connectionCount, 1);
    assert.equal(await exchange(held, 'late'), 'echo:late');
  });

  it('keeps a connection alive with PING and reschedules after each answer', async () => {
    h = await startHarness();
    const timers = new FakeTimers();
    pool = new HbonePool({ timers, keepaliveIntervalMs: 100, keepaliveTimeoutMs: 50, idleTimeoutMs: 3_600_000 });
    const held = await pool.connect(request(h.port));
    timers.advance(100); // sends a PING and arms the 50 ms deadline
    await until(() => [...timers.pending.values()].some((t) => t.at === 200), 'the PING answer to schedule the next one');
    timers.advance(60); // the old deadline was cleared by the answer
    assert.equal(pool.connectionCount, 1);
    assert.equal(await exchange(held, 'ping'), 'echo:ping');
  });

  it('keys connections by identity, source ip, address and the set of expected identities', () => {
    const base = request(15008);
    const withIp = { ...base, source: { ...base.source, ip: '10.0.0.1' } };
    const reordered = { ...base, expectedIdentities: ['spiffe://cluster.local/ns/b/sa/z', SERVER_ID] };
    const sameSet = { ...base, expectedIdentities: [SERVER_ID, 'spiffe://cluster.local/ns/b/sa/z'] };
    assert.notEqual(poolKey(base), poolKey(withIp));
    assert.equal(poolKey(reordered), poolKey(sameSet));
    assert.notEqual(poolKey(base), poolKey({ ...base, hboneAddress: { ip: '127.0.0.1', port: 15009 } }));
  });

  it('rejects a destination that is not ip:port before dialing', async () => {
    pool = new HbonePool();
    await assert.rejects(pool.connect({ ...request(1), destination: { ip: 'shop.svc', port: 80 } }), { code: 'ERR_HBONE_BAD_ADDRESS' });
    assert.equal(pool.connectionCount, 0);
  });
});
