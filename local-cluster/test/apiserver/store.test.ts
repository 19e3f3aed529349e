// Store durability: snapshot + log replay, torn writes, resourceVersion continuity.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import { Store, type StoreEvent } from '../../src/apiserver/store.ts';

const cm = (name: string, v: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });

describe('store persistence', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'store-test-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays the log after a crash, ignoring a torn last line, and continues the resourceVersion', () => {
    const a = new Store({ dir });
    a.put('/configmaps', cm('x', '1'));
    a.put('/configmaps', cm('y', '1'));
    a.remove('/configmaps', 'default', 'y');
    a.put('/configmaps', cm('x', '2'));
    // No close(): the process "crashed"; then a half-written line from a write in flight.
    appendFileSync(join(dir, 'changes.log'), '{"rv":5,"r":"/configmaps","k":"default/z","o":{"apiVer');
    const b = new Store({ dir });
    assert.deepEqual(
      b.list('/configmaps').items.map((o) => `${o.metadata.name}=${(o.data as { v: string }).v}`),
      ['x=2'],
    );
    assert.equal(b.revision, 4);
    assert.equal(b.put('/configmaps', cm('z', '1')).metadata.resourceVersion, '5');
    b.close();
  });

  it('restores from a snapshot plus the log written after it', () => {
    const a = new Store({ dir, snapshotEvery: 2 });
    for (let i = 0; i < 5; i++) a.put('/configmaps', cm(`c${i}`, String(i)));
    const b = new Store({ dir });
    assert.equal(b.list('/configmaps').items.length, 5);
    assert.equal(b.revision, 5);
    b.close();
  });

  it('replays retained history to a watch that resumes, and 410s one from before it', () => {
    const s = new Store({ historySize: 3 });
    for (let i = 0; i < 5; i++) s.put('/configmaps', cm(`c${i}`, String(i)));
    const seen: string[] = [];
    const stop = s.watch('/configmaps', 3, (e: StoreEvent) => seen.push(`${e.type} ${e.object.metadata.name}`));
    stop();
    assert.deepEqual(seen, ['ADDED c3', 'ADDED c4']);
    assert.throws(
      () => s.watch('/configmaps', 1, () => {}),
      (err: { code?: number }) => err.code === 410,
    );
  });
});
