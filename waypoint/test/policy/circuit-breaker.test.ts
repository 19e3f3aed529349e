import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import type { ConnectionPool } from '@ambient/api';
import { type Admission, type BreakerProtocol, CircuitBreakers, type OverflowReason } from '../../src/policy/circuit-breaker.ts';

const HOST = 'reviews.shop.svc.cluster.local';

function breakers(pool: ConnectionPool | undefined, overflows: OverflowReason[] = []): CircuitBreakers {
  const b = new CircuitBreakers({
    onOverflow: (hostname, reason) => {
      assert.equal(hostname, HOST);
      overflows.push(reason);
    },
  });
  b.update(new Map([[HOST, pool]]));
  return b;
}

/** A queued request's outcome, readable synchronously after a microtask turn. */
function track(p: Admission | Promise<Admission> | 'overflow'): {
  state: 'admitted' | 'queued' | 'overflow' | 'rejected';
  admission?: Admission;
  reason?: unknown;
} {
  if (p === 'overflow') return { state: 'overflow' };
  if (!(p instanceof Promise)) return { state: 'admitted', admission: p };
  const t: ReturnType<typeof track> = { state: 'queued' };
  p.then(
    (a) => {
      t.state = 'admitted';
      t.admission = a;
    },
    (reason: unknown) => {
      t.state = 'rejected';
      t.reason = reason;
    },
  );
  return t;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const live = () => new AbortController().signal;

describe('CircuitBreakers', () => {
  it('admits, queues or overflows requests by the connectionPool limits', async () => {
    const cases: { what: string; pool: ConnectionPool; protocol: BreakerProtocol; n: number; want: string; overflows: OverflowReason[]; counted?: false }[] = [
      {
        what: 'maxConnections 1, pending 1: one in flight, one queued, the rest overflow',
        pool: { maxConnections: 1, http1MaxPendingRequests: 1 },
        protocol: 'http1',
        n: 4,
        want: 'AQOO',
        overflows: ['pending', 'pending'],
      },
      {
        what: 'maxConnections 2, pending 0 (unlimited): everything past 2 queues',
        pool: { maxConnections: 2 },
        protocol: 'http1',
        n: 5,
        want: 'AAQQQ',
        overflows: [],
      },
      {
        what: 'HTTP/2: at most http2MaxRequests, never queued',
        pool: { http2MaxRequests: 2, maxConnections: 1, http1MaxPendingRequests: 5 },
        protocol: 'http2',
        n: 4,
        want: 'AAOO',
        overflows: ['requests', 'requests'],
      },
      {
        what: 'HTTP/1.1 is held to http2MaxRequests too, before its queue',
        pool: { http2MaxRequests: 2, maxConnections: 5, http1MaxPendingRequests: 5 },
        protocol: 'http1',
        n: 3,
        want: 'AAO',
        overflows: ['requests'],
      },
      {
        what: 'zeros are unlimited (proto3 unset)',
        pool: { maxConnections: 0, http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRetries: 0 },
        protocol: 'http1',
        n: 50,
        want: 'A'.repeat(50),
        overflows: [],
        counted: false,
      },
      { what: 'HTTP/2 ignores maxConnections', pool: { maxConnections: 1, http1MaxPendingRequests: 1 }, protocol: 'http2', n: 5, want: 'AAAAA', overflows: [] },
    ];
    for (const c of cases) {
      const overflows: OverflowReason[] = [];
      const b = breakers(c.pool, overflows);
      const got = Array.from({ length: c.n }, () => track(b.request(HOST, c.protocol, live())));
      assert.equal(got.map((t) => t.state[0]!.toUpperCase()).join(''), c.want, c.what);
      assert.deepEqual(overflows, c.overflows, c.what);
      const s = b.stats(HOST);
      if (c.counted === false) {
        assert.deepEqual(s.active + s.pending, 0, `${c.what}: unlimited, not counted`);
        continue;
      }
      assert.equal(s.active, c.want.split('').filter((x) => x === 'A').length, c.what);
      assert.equal(s.pending, c.want.split('').filter((x) => x === 'Q').length, c.what);
    }
  });

  it('admits the queued request when a slot frees, in arrival order', async () => {
    const b = breakers({ maxConnections: 1, http1MaxPendingRequests: 2 });
    const first = track(b.request(HOST, 'http1', live()));
    const second = track(b.request(HOST, 'http1', live()));
    const third = track(b.request(HOST, 'http1', live()));
    assert.deepEqual([first.state, second.state, third.state], ['admitted', 'queued', 'queued']);
    first.admission!.release();
    await turn();
    assert.deepEqual([second.state, third.state], ['admitted', 'queued']);
    assert.deepEqual(b.stats(HOST), { active: 1, pending: 1, retries: 0, connections: 0, http1Active: 1 });
    // A newcomer does not overtake the queue: it queues behind, or overflows when the queue is full.
    assert.equal(track(b.request(HOST, 'http1', live())).state, 'queued');
    assert.equal(b.request(HOST, 'http1', live()), 'overflow');
    second.admission!.release();
    await turn();
    assert.equal(third.state, 'admitted');
  });

  it('takes an aborted request out of the queue, rejecting with the reason, with no listener left behind', async () => {
    const b = breakers({ maxConnections: 1, http1MaxPendingRequests: 2 });
    const first = track(b.request(HOST, 'http1', live()));
    const giveUp = new AbortController();
    const waits = new AbortController();
    const aborted = track(b.request(HOST, 'http1', giveUp.signal));
    const patient = track(b.request(HOST, 'http1', waits.signal));
    assert.equal(getEventListeners(giveUp.signal, 'abort').length, 1);
    const reason = new DOMException('deadline', 'TimeoutError');
    giveUp.abort(reason);
    await turn();
    assert.equal(aborted.state, 'rejected');
    assert.equal(aborted.reason, reason);
    assert.equal(b.stats(HOST).pending, 1);
    // The freed queue place is usable again, and the next slot goes to the one still waiting.
    assert.equal(track(b.request(HOST, 'http1', live())).state, 'queued');
    first.admission!.release();
    await turn();
    assert.equal(patient.state, 'admitted');
    assert.equal(getEventListeners(waits.signal, 'abort').length, 0, 'an admitted request stops listening');
    assert.equal(getEventListeners(giveUp.signal, 'abort').length, 0);
  });

  it('rejects at once a request that would queue when its signal has already fired', async () => {
    const b = breakers({ maxConnections: 1 });
    track(b.request(HOST, 'http1', live()));
    const gone = new AbortController();
    gone.abort(new Error('client gone'));
    const t = track(b.request(HOST, 'http1', gone.signal));
    await turn();
    assert.equal(t.state, 'rejected');
    assert.equal((t.reason as Error).message, 'client gone');
    assert.equal(b.stats(HOST).pending, 0);
  });

  it('releases idempotently: a second release frees nothing', () => {
    const b = breakers({ http2MaxRequests: 1 });
    const a = b.request(HOST, 'http2', live()) as Admission;
    a.release();
    a.release();
    assert.equal(b.stats(HOST).active, 0);
    const again = b.request(HOST, 'http2', live()) as Admission;
    a.release();
    assert.equal(b.stats(HOST).active, 1, 'the old admission does not free the new one');
    assert.equal(b.request(HOST, 'http2', live()), 'overflow');
    again.release();
  });

  it('holds retries in flight to maxRetries', () => {
    const overflows: OverflowReason[] = [];
    const b = breakers({ maxRetries: 2 }, overflows);
    const r1 = b.retry(HOST);
    const r2 = b.retry(HOST);
    assert.notEqual(r1, 'overflow');
    assert.notEqual(r2, 'overflow');
    assert.equal(b.retry(HOST), 'overflow');
    assert.deepEqual(overflows, ['retries']);
    assert.equal(b.stats(HOST).retries, 2);
    (r1 as Admission).release();
    assert.notEqual(b.retry(HOST), 'overflow');
  });

  it('holds L4 connections to maxConnections, apart from HTTP/1.1 requests', () => {
    const overflows: OverflowReason[] = [];
    const b = breakers({ maxConnections: 2 }, overflows);
    const http = [b.request(HOST, 'http1', live()), b.request(HOST, 'http1', live())];
    assert.ok(http.every((a) => a !== 'overflow' && !(a instanceof Promise)));
    const c1 = b.connection(HOST) as Admission;
    const c2 = b.connection(HOST) as Admission;
    assert.equal(b.connection(HOST), 'overflow');
    assert.deepEqual(overflows, ['connections']);
    assert.deepEqual(b.stats(HOST), { active: 2, pending: 0, retries: 0, connections: 2, http1Active: 2 });
    c1.release();
    c2.release();
    assert.equal(b.stats(HOST).connections, 0);
  });

  it('does not count a hostname without limits, handing out one shared admission', () => {
    const b = breakers({ maxConnections: 1 });
    const other = 'ratings.shop.svc.cluster.local';
    const a = b.request(other, 'http1', live());
    assert.equal(b.request(other, 'http1', live()), a);
    assert.equal(b.retry(other), a);
    assert.equal(b.connection(other), a);
    assert.deepEqual(b.stats(other), { active: 0, pending: 0, retries: 0, connections: 0, http1Active: 0 });
    const empty = breakers(undefined);
    assert.equal(empty.request(HOST, 'http1', live()), a);
    const allZero = breakers({ maxConnections: 0, connectTimeoutMs: 500 });
    assert.equal(allZero.request(HOST, 'http1', live()), a);
  });

  describe('update', () => {
    it('admits queued requests at once when the limits are raised', async () => {
      const b = breakers({ maxConnections: 1 });
      track(b.request(HOST, 'http1', live()));
      const queued = [track(b.request(HOST, 'http1', live())), track(b.request(HOST, 'http1', live())), track(b.request(HOST, 'http1', live()))];
      b.update(new Map([[HOST, { maxConnections: 3 }]]));
      await turn();
      assert.deepEqual(
        queued.map((t) => t.state),
        ['admitted', 'admitted', 'queued'],
      );
      assert.deepEqual(b.stats(HOST), { active: 3, pending: 1, retries: 0, connections: 0, http1Active: 3 });
    });

    it('keeps in flight what a lowered limit would refuse, and admits again once under it', () => {
      const b = breakers({ http2MaxRequests: 3 });
      const held = [0, 1, 2].map(() => b.request(HOST, 'http2', live()) as Admission);
      b.update(new Map([[HOST, { http2MaxRequests: 1 }]]));
      assert.equal(b.stats(HOST).active, 3);
      assert.equal(b.request(HOST, 'http2', live()), 'overflow');
      held[0]!.release();
      held[1]!.release();
      assert.equal(b.request(HOST, 'http2', live()), 'overflow', 'one still in flight fills the new limit of 1');
      held[2]!.release();
      assert.notEqual(b.request(HOST, 'http2', live()), 'overflow');
    });

    it('lets everything through when the policy goes, releasing what was held into nothing, then forgets the hostname', async () => {
      const b = breakers({ maxConnections: 1, maxRetries: 1 });
      const running = b.request(HOST, 'http1', live()) as Admission;
      const retry = b.retry(HOST) as Admission;
      const queued = track(b.request(HOST, 'http1', live()));
      b.update(new Map());
      await turn();
      assert.equal(queued.state, 'admitted');
      assert.equal(b.size, 1, 'kept while admissions are held');
      assert.deepEqual(b.stats(HOST), { active: 2, pending: 0, retries: 1, connections: 0, http1Active: 2 });
      // New admissions are no longer counted; the held ones release correctly.
      assert.notEqual(b.request(HOST, 'http1', live()), 'overflow');
      running.release();
      retry.release();
      queued.admission!.release();
      assert.deepEqual(b.stats(HOST), { active: 0, pending: 0, retries: 0, connections: 0, http1Active: 0 });
      assert.equal(b.size, 0, 'forgotten once idle');
      // A policy back later starts from clean counters.
      b.update(new Map([[HOST, { maxConnections: 1 }]]));
      assert.notEqual(b.request(HOST, 'http1', live()), 'overflow');
      assert.equal(b.stats(HOST).http1Active, 1);
    });

    it('keeps the counts across an update that leaves a hostname limited', () => {
      const b = breakers({ maxConnections: 1 });
      b.connection(HOST);
      b.update(new Map([[HOST, { maxConnections: 1, maxRetries: 5 }]]));
      assert.equal(b.connection(HOST), 'overflow');
    });
  });
});
