// Store durability: snapshot + log replay, torn writes, resourceVersion continuity.
import assert from 'node:assert/strict';
import { appendFileSync, fsync, fsyncSync, mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import { Store, type StoreEvent } from '../../src/apiserver/store.ts';
import type { LogFiles } from '../../src/apiserver/store-log.ts';

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

  it('truncates a torn last line on open, so the writes appended after it survive the next restart (the torn-tail join bug)', () => {
    const a = new Store({ dir });
    a.put('/configmaps', cm('x', '1'));
    a.put('/configmaps', cm('y', '1'));
    a.remove('/configmaps', 'default', 'y');
    a.put('/configmaps', cm('x', '2'));
    const torn = '{"rv":5,"r":"/configmaps","k":"default/z","o":{"apiVer';
    appendFileSync(join(dir, 'changes.log'), torn);
    const logged: { msg: string; droppedBytes?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });

    const b = new Store({ dir, logger });
    assert.equal(b.revision, 4);
    assert.equal(b.put('/configmaps', cm('z', '1')).metadata.resourceVersion, '5');
    assert.equal(b.put('/configmaps', cm('x', '3')).metadata.resourceVersion, '6');
    b.remove('/configmaps', 'default', 'z');
    const acknowledged = b.revision;
    // Crashed again, without close() (which would write a snapshot and hide the log).
    const c = new Store({ dir });
    assert.equal(c.revision, acknowledged);
    assert.deepEqual(
      c.list('/configmaps').items.map((o) => `${o.metadata.name}=${(o.data as { v: string }).v}@${o.metadata.resourceVersion}`),
      ['x=3@6'],
    );
    assert.equal(c.put('/configmaps', cm('w', '1')).metadata.resourceVersion, String(acknowledged + 1));
    assert.deepEqual(
      logged.filter((l) => l.droppedBytes !== undefined).map((l) => l.droppedBytes),
      [Buffer.byteLength(torn)],
    );
    c.close();
  });

  it('refuses to open a log with a corrupt line before its end instead of dropping the writes after it', () => {
    const a = new Store({ dir });
    a.put('/configmaps', cm('x', 'é1'));
    a.put('/configmaps', cm('y', '1'));
    const path = join(dir, 'changes.log');
    const [first, second] = readFileSync(path, 'utf8').split('\n') as [string, string];
    const corrupted = `${first}\n{"rv":2,"r":"/config\u0000\u0000\n${second}\n`;
    writeFileSync(path, corrupted);
    assert.throws(
      () => new Store({ dir }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_STORE_CORRUPT');
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, /line 2\b/);
        assert.match(err.message, new RegExp(`byte offset ${Buffer.byteLength(first) + 1}\\b`));
        assert.match(err.message, /truncate -s/);
        return true;
      },
    );
    assert.equal(readFileSync(path, 'utf8'), corrupted, 'the log is left as it was');
  });

  it('refuses a complete but corrupt last line too: only a line without its newline counts as torn', () => {
    const a = new Store({ dir });
    a.put('/configmaps', cm('x', '1'));
    appendFileSync(join(dir, 'changes.log'), '{"rv":2,"r":"/configmaps","k":"default/y","o":{"apiVer{"rv":2,"r":"/configmaps","k":"default/y"}\n');
    assert.throws(
      () => new Store({ dir }),
      (err: Error & { code?: string }) => err.code === 'ERR_STORE_CORRUPT' && /line 2\b/.test(err.message),
    );
  });

  it('applies nothing of a write the disk refused halfway, and leaves no partial record for the next write to join', () => {
    let failAt = 2; // the second record: 10 bytes land, then the disk is full
    const files: LogFiles = {
      writeSync: (fd, buffer, offset, length) => {
        if (failAt === 2 && offset === 0 && buffer.includes('default/y')) {
          failAt = 0;
          return writeSync(fd, buffer, offset, 10);
        }
        if (failAt === 0) {
          failAt = -1;
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        return writeSync(fd, buffer, offset, length);
      },
      fsyncSync: (fd) => fsyncSync(fd),
      fsync: (fd, done) => fsync(fd, done),
    };
    const a = new Store({ dir, files });
    a.put('/configmaps', cm('x', '1'));
    assert.throws(
      () => a.put('/configmaps', cm('y', '1')),
      (err: Error & { code?: string }) => err.code === 'ERR_STORE_WRITE_FAILED',
    );
    assert.equal(a.get('/configmaps', 'default', 'y'), undefined);
    assert.equal(a.revision, 1);
    assert.equal(a.put('/configmaps', cm('z', '1')).metadata.resourceVersion, '2');
    const b = new Store({ dir });
    assert.deepEqual(
      b.list('/configmaps').items.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
      ['x@1', 'z@2'],
    );
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
