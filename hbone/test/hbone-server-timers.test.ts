// The HBONE server's own timers: a session with no streams is closed after the idle timeout, and
// a session whose peer stops answering PING is destroyed. Fake time for the timers, real
// sockets; the pool's timers are set out of the way so only the server acts.
import assert from 'node:assert/strict';
import { FakeClock } from '@ambient/api/testing';
import { HbonePool } from '../src/hbone-pool.ts';
import type { InboundRecord } from '../src/hbone-server.ts';
import {
  CLIENT_ID,
  SERVER_ID,
  clientContext,
  closeHarness,
  exchange,
  startDroppingRelay,
  startHarness,
  until,
  type DroppingRelay,
  type Harness,
} from './hbone-fixtures.ts';

const HOUR = 3_600_000;

const request = (port: number) => ({
  source: { identity: CLIENT_ID, context: clientContext },
  destination: { ip: '10.244.2.7', port: 8080 },
  hboneAddress: { ip: '127.0.0.1', port },
  expectedIdentities: [SERVER_ID],
});

describe('HBONE server idle timeout and keepalive', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  let relay: DroppingRelay | undefined;
  afterEach(async () => {
    pool?.close();
    await relay?.close();
    await closeHarness(h);
    h = pool = relay = undefined;
  });

  it('closes a session that has carried no stream for the idle timeout, not before', async () => {
    const clock = new FakeClock(0);
    const records: InboundRecord[] = [];
    h = await startHarness({ timers: clock.timers, idleTimeoutMs: 1000, keepaliveIntervalMs: HOUR, onStreamClosed: (r) => records.push(r) });
    pool = new HbonePool({ idleTimeoutMs: HOUR, keepaliveIntervalMs: HOUR });
    assert.equal(await exchange(await pool.connect(request(h.port)), 'x'), 'echo:x');
    await until(() => records.length === 1, 'the server to finish the stream');
    clock.advance(999);
    assert.equal(pool.connectionCount, 1);
    clock.advance(1);
    await until(() => pool!.connectionCount === 0, 'the server to close the idle session (GOAWAY)');
    assert.equal(h.server.stats.idleClosed, 1);
    assert.equal(await exchange(await pool.connect(request(h.port)), 'y'), 'echo:y', 'a new connection is served');
  });

  it('does not close a session while a stream is open on it', async () => {
    const clock = new FakeClock(0);
    h = await startHarness({ timers: clock.timers, idleTimeoutMs: 1000, keepaliveIntervalMs: HOUR });
    pool = new HbonePool({ idleTimeoutMs: HOUR, keepaliveIntervalMs: HOUR });
    const held = await pool.connect(request(h.port));
    clock.advance(10_000);
    assert.equal(await exchange(held, 'late'), 'echo:late');
    assert.equal(h.server.stats.idleClosed, 0);
  });

  it('destroys a session whose peer stops answering PING (a silently dropped connection)', async () => {
    const clock = new FakeClock(0);
    h = await startHarness({ timers: clock.timers, keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 500, idleTimeoutMs: HOUR });
    relay = await startDroppingRelay(h.port);
    pool = new HbonePool({ idleTimeoutMs: HOUR, keepaliveIntervalMs: HOUR });
    await pool.connect(request(relay.port));
    relay.drop();
    clock.advance(1000); // the PING goes out and is swallowed
    clock.advance(499);
    assert.equal(relay.serverClosed, 0);
    clock.advance(1);
    await until(() => relay!.serverClosed === 1, 'the server to destroy the silent session');
    assert.equal(h.server.stats.keepaliveTimeouts, 1);
  });

  it('keeps a session whose peer answers PING, pinging again after each answer', async () => {
    const clock = new FakeClock(0);
    h = await startHarness({ timers: clock.timers, keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 500, idleTimeoutMs: HOUR });
    pool = new HbonePool({ idleTimeoutMs: HOUR, keepaliveIntervalMs: HOUR });
    const held = await pool.connect(request(h.port));
    for (let round = 1; round <= 3; round++) {
      clock.advance(1000); // PING `round` goes out; its deadline is 500 ms away
      await until(() => clock.pendingDelays().join() === '1000', `the answer to PING ${round} to clear its deadline and schedule the next`);
    }
    clock.advance(600);
    assert.equal(await exchange(held, 'alive'), 'echo:alive');
    assert.equal(h.server.stats.keepaliveTimeouts, 0);
  });
});
