import assert from 'node:assert/strict';
import { ackInflight, applySubscriptionChange, computeDelta, markDirty, nackInflight, newTypeSubscription } from '../../src/xds/delta-state.ts';
import type { TypeSubscription } from '../../src/xds/delta-state.ts';
import type { VersionedResource } from '../../src/xds/resource-source.ts';

function available(entries: Record<string, string>): Map<string, VersionedResource> {
  return new Map(Object.entries(entries).map(([name, version]) => [name, { version, payload: {} }]));
}

function delta(sub: TypeSubscription, avail: Record<string, string>): { upserts: string[]; removed: string[] } {
  const d = computeDelta(sub, available(avail));
  return { upserts: d.upserts.map(([n, r]) => `${n}@${r.version}`).sort(), removed: d.removed.sort() };
}

function subscribed(opts: { first?: string[]; initial?: Record<string, string> } = {}): TypeSubscription {
  const sub = newTypeSubscription(opts.initial);
  applySubscriptionChange(sub, opts.first ?? [], [], true);
  return sub;
}

describe('delta state', () => {
  const cases: { name: string; sub: () => TypeSubscription; avail: Record<string, string>; want: { upserts: string[]; removed: string[] } }[] = [
    {
      name: 'an empty first subscribe is a wildcard: everything is sent',
      sub: () => subscribed(),
      avail: { a: '1', b: '1' },
      want: { upserts: ['a@1', 'b@1'], removed: [] },
    },
    { name: '"*" is a wildcard', sub: () => subscribed({ first: ['*'] }), avail: { a: '1' }, want: { upserts: ['a@1'], removed: [] } },
    {
      name: 'named subscriptions get only their names',
      sub: () => subscribed({ first: ['b', 'zz'] }),
      avail: { a: '1', b: '2' },
      want: { upserts: ['b@2'], removed: [] },
    },
    {
      name: 'initial versions: matching ones are not resent, vanished ones are removed',
      sub: () => subscribed({ initial: { a: '1', b: '1', gone: '3' } }),
      avail: { a: '1', b: '2', c: '1' },
      want: { upserts: ['b@2', 'c@1'], removed: ['gone'] },
    },
    {
      name: 'a dirty name that still matches the held version is not resent',
      sub: () => {
        const s = subscribed({ initial: { a: '1' } });
        s.dirty = new Set(['a']);
        return s;
      },
      avail: { a: '1' },
      want: { upserts: [], removed: [] },
    },
    {
      name: 'only dirty names are examined',
      sub: () => {
        const s = subscribed({ initial: { a: '1', b: '1' } });
        s.dirty = new Set(['b']);
        return s;
      },
      avail: { a: '9', b: '2' },
      want: { upserts: ['b@2'], removed: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(delta(c.sub(), c.avail), c.want));
  }

  it('removes an unsubscribed name the proxy holds', () => {
    const sub = subscribed({ first: ['a', 'b'], initial: { a: '1', b: '1' } });
    sub.dirty = new Set();
    applySubscriptionChange(sub, [], ['b'], false);
    assert.deepEqual(delta(sub, { a: '1', b: '1' }), { upserts: [], removed: ['b'] });
  });

  it('leaving the wildcard removes what is not named', () => {
    const sub = subscribed({ initial: { a: '1', b: '1' } });
    applySubscriptionChange(sub, ['a'], [], false);
    sub.dirty = new Set();
    applySubscriptionChange(sub, [], ['*'], false);
    assert.equal(sub.dirty, 'all');
    assert.deepEqual(delta(sub, { a: '1', b: '1' }), { upserts: [], removed: ['b'] });
  });

  it('an ACK makes the sent versions held; a NACK keeps the old ones and is recorded', () => {
    const sub = subscribed({ initial: { a: '1', b: '1' } });
    sub.inflight = {
      nonce: '7',
      changes: new Map([
        ['a', '2'],
        ['b', null],
      ]),
    };
    nackInflight(sub, 'bad a', new Date(0));
    assert.deepEqual(
      [...sub.acked],
      [
        ['a', '1'],
        ['b', '1'],
      ],
    );
    assert.equal(sub.nacks, 1);
    assert.deepEqual(sub.lastNack, { nonce: '7', message: 'bad a', at: new Date(0) });
    assert.equal(sub.inflight, undefined);

    sub.inflight = {
      nonce: '8',
      changes: new Map([
        ['a', '2'],
        ['b', null],
      ]),
    };
    ackInflight(sub);
    assert.deepEqual([...sub.acked], [['a', '2']]);
    assert.equal(sub.inflight, undefined);
  });

  it('markDirty accumulates names until a full diff absorbs them', () => {
    const sub = subscribed();
    sub.dirty = new Set();
    markDirty(sub, ['a']);
    markDirty(sub, ['b']);
    assert.deepEqual([...(sub.dirty as Set<string>)], ['a', 'b']);
    markDirty(sub, 'all');
    markDirty(sub, ['c']);
    assert.equal(sub.dirty, 'all');
  });
});
