import assert from 'node:assert/strict';
import { PushBudget } from '../../src/xds/push-budget.ts';

describe('push budget', () => {
  it('admits pushes until the bytes in flight reach the budget, then queues keys in order, once each', () => {
    const b = new PushBudget<string>(100);
    assert.equal(b.admit('a'), true);
    const releaseA = b.started(60);
    assert.equal(b.admit('b'), true);
    const releaseB = b.started(60);
    assert.equal(b.admit('c'), false, 'over the budget');
    assert.equal(b.admit('d'), false);
    assert.equal(b.admit('c'), false);
    assert.deepEqual(b.stats(), { bytesInFlight: 120, peakBytesInFlight: 120, waiting: 2 });

    const sent: string[] = [];
    releaseA();
    releaseA(); // idempotent
    b.drain((k) => {
      sent.push(k);
      b.started(50);
    });
    assert.deepEqual(sent, ['c'], 'c goes (60 in flight), then 110 ≥ 100 stops d');
    assert.deepEqual(b.stats(), { bytesInFlight: 110, peakBytesInFlight: 120, waiting: 1 });
    releaseB();
    b.drain((k) => sent.push(k));
    assert.deepEqual(sent, ['c', 'd']);
  });

  it('always lets one push go when nothing is in flight, however large', () => {
    const b = new PushBudget<string>(10);
    assert.equal(b.admit('big'), true);
    const release = b.started(1_000_000);
    assert.equal(b.admit('next'), false);
    release();
    assert.equal(b.admit('next'), true, 'nothing in flight');
  });

  it('keeps arrival order: a newcomer waits behind queued keys while anything is in flight', () => {
    const b = new PushBudget<string>(100);
    b.admit('a');
    const release = b.started(150);
    assert.equal(b.admit('b'), false);
    release();
    b.started(10);
    assert.equal(b.admit('c'), false, 'b is still queued');
    const sent: string[] = [];
    b.drain((k) => sent.push(k));
    assert.deepEqual(sent, ['b', 'c']);
  });

  it('forgets the key of a closed stream', () => {
    const b = new PushBudget<string>(1);
    b.admit('a');
    b.started(5);
    b.admit('gone');
    b.forget('gone');
    const sent: string[] = [];
    b.drain((k) => sent.push(k));
    assert.deepEqual(sent, []);
    assert.equal(b.stats().waiting, 0);
  });
});
