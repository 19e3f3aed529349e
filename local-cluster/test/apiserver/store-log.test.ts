// The store's log at the file level: short writes, and when writes reach the disk.
import assert from 'node:assert/strict';
import { fstatSync, fsync, fsyncSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import { type LogEntry, type LogFiles, loadState, StoreLog } from '../../src/apiserver/store-log.ts';

const cm = (name: string, v: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });
const entry = (rv: number, name: string, v: string): LogEntry => ({ rv, r: '/configmaps', k: `default/${name}`, o: cm(name, v) });
const recordBytes = (e: LogEntry): number => Buffer.byteLength(`${JSON.stringify(e)}\n`);

const realFiles: LogFiles = {
  writeSync: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  fsyncSync: (fd) => fsyncSync(fd),
  fsync: (fd, done) => fsync(fd, done),
};

/** Whether `p` has settled once the microtasks and pending I/O callbacks ran. */
function settled(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => setImmediate(() => resolve(false))),
  ]);
}

describe('StoreLog', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'store-log-test-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a whole record when writeSync writes fewer bytes than asked (the short-write bug)', () => {
    let shortWrites = 0;
    const files: LogFiles = {
      ...realFiles,
      writeSync: (fd, buffer, offset, length) => {
        if (length > 5) shortWrites++;
        return writeSync(fd, buffer, offset, Math.min(length, 5));
      },
    };
    const entries = [entry(1, 'a', 'é✓ multi-byte'), entry(2, 'b', '2'), { rv: 3, r: '/configmaps', k: 'default/a' }];
    const { log } = StoreLog.open(dir, { files });
    for (const e of entries) log.append(e);
    assert.ok(shortWrites > 0, 'the injected writeSync wrote short');
    // No close(): what the log holds is what a crash right now would leave.
    assert.deepEqual(loadState(dir).entries, entries);

    const snapshot = { rv: 3, resources: { '/configmaps': [cm('b', '2')] } };
    log.snapshot(snapshot);
    assert.deepEqual(loadState(dir), { snapshot, entries: [] });
  });

  it('fsyncs each write before append returns (durability per-write)', () => {
    const syncedSizes: number[] = [];
    const files: LogFiles = {
      ...realFiles,
      fsyncSync: (fd) => {
        fsyncSync(fd);
        syncedSizes.push(fstatSync(fd).size);
      },
    };
    const { log } = StoreLog.open(dir, { files, durability: 'per-write' });
    const ends: number[] = [];
    let size = 0;
    for (let rv = 1; rv <= 4; rv++) {
      const e = entry(rv, `c${rv}`, String(rv));
      log.append(e);
      ends.push((size += recordBytes(e)));
    }
    assert.deepEqual(syncedSizes, ends, 'one fsync per write, each after the whole record');
  });

  it('shares one fsync among the writes made while the previous one was in flight (durability group-commit)', async () => {
    const inFlight: ((err: NodeJS.ErrnoException | null) => void)[] = [];
    let fsyncs = 0;
    const files: LogFiles = {
      ...realFiles,
      fsync: (fd, done) => {
        fsyncs++;
        fsyncSync(fd); // the data is on disk now; the test decides when fsync "returns"
        inFlight.push(done);
      },
    };
    const { log } = StoreLog.open(dir, { files, durability: 'group-commit' });
    log.append(entry(1, 'a', '1'));
    const first = log.durable();
    assert.equal(fsyncs, 1, 'the first write starts an fsync at once');
    log.append(entry(2, 'b', '1'));
    log.append(entry(3, 'c', '1'));
    const third = log.durable();
    assert.equal(fsyncs, 1, 'no second fsync while one is in flight');
    assert.equal(await settled(first), false);

    inFlight.shift()!(null);
    assert.equal(await settled(first), true);
    assert.equal(await settled(third), false, 'writes 2 and 3 came after the first fsync started');
    assert.equal(fsyncs, 2, 'the next fsync starts when the previous one returns');

    inFlight.shift()!(null);
    assert.equal(await settled(third), true);
    assert.equal(await settled(log.durable()), true, 'nothing written since: durable at once');
    assert.equal(fsyncs, 2, 'three writes, two fsyncs');
    log.close();
  });

  it('fails the waiting writes and every later one when a group fsync fails', async () => {
    const inFlight: ((err: NodeJS.ErrnoException | null) => void)[] = [];
    const files: LogFiles = { ...realFiles, fsync: (_fd, done) => void inFlight.push(done) };
    const { log } = StoreLog.open(dir, { files, durability: 'group-commit' });
    log.append(entry(1, 'a', '1'));
    const waiting = log.durable();
    inFlight.shift()!(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    await assert.rejects(waiting, (err: Error & { code?: string }) => err.code === 'ERR_STORE_WRITE_FAILED');
    assert.throws(
      () => log.append(entry(2, 'b', '1')),
      (err: Error & { code?: string }) => err.code === 'ERR_STORE_WRITE_FAILED',
    );
    log.close();
  });
});
