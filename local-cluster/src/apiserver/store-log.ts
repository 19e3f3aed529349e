// Durable state of the store: a snapshot file plus an append-only log of the writes since.
//
// The log is a sequence of complete JSON lines, and every operation keeps it one:
// - a write loops until the whole record (with its newline) is written, because write(2) may
//   take fewer bytes than asked; a write that fails halfway is cut back off the file, so the
//   next record never lands glued to a fragment;
// - on open, an incomplete last line (no newline: a write a crash interrupted, never
//   acknowledged) is truncated away before anything is appended, and logged;
// - a complete line that does not parse, anywhere, stops the open with StoreCorruptError:
//   lines after it may hold acknowledged writes, and the data directory is the user's to repair.
// Durability (when a write counts as on disk) is `per-write` (fsync before append returns)
// or `group-commit` (writes made while an fsync is in flight share the next one; callers
// acknowledge after `durable()` resolves): see the README's "API server persistence".
// Snapshots go through temp file + fsync + rename, so a reader always sees either the old or
// the new snapshot, never half of one.
import { closeSync, existsSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MeshError } from '@ambient/api';
import type { Logger } from 'pino';
import type { KubeObject } from '../apimachinery/types.ts';

/** One change: `o` set = put, `o` absent = delete of key `k` in resource `r`. */
export interface LogEntry {
  rv: number;
  r: string;
  k: string;
  o?: KubeObject;
}

export interface Snapshot {
  rv: number;
  resources: Record<string, KubeObject[]>;
}

export interface LoadedState {
  snapshot: Snapshot;
  entries: LogEntry[];
}

/** The file operations behind the log; tests inject short writes, failures and fsync counts. */
export interface LogFiles {
  /** Like fs.writeSync: may write fewer than `length` bytes, returns how many it wrote. */
  writeSync(fd: number, buffer: Buffer, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  fsync(fd: number, done: (err: NodeJS.ErrnoException | null) => void): void;
}

const nodeFiles: LogFiles = {
  writeSync: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  fsyncSync: (fd) => fsyncSync(fd),
  fsync: (fd, done) => fsync(fd, done),
};

/**
 * `per-write`: append() returns after the record's fsync (synchronous; simple; costs one fsync
 * of event-loop time per write). `group-commit`: append() returns after write(2); an fsync
 * starts at once in the thread pool, writes made while it runs share the next one, and
 * durable() resolves when every write made before the call is on disk.
 */
export type Durability = 'per-write' | 'group-commit';

export interface StoreLogOptions {
  durability?: Durability; // default 'per-write'
  files?: LogFiles;
  /** Where repairs made on open are reported. */
  logger?: Logger;
}

/** The store directory holds something this code did not write and will not guess about. */
export class StoreCorruptError extends MeshError<'ERR_STORE_CORRUPT'> {
  readonly path: string;
  /** Byte offset of the bad line in a log; undefined for a snapshot. */
  readonly offset: number | undefined;

  constructor(path: string, offset: number | undefined, message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_CORRUPT', message, options);
    this.path = path;
    this.offset = offset;
  }
}

/** A write or fsync of the store failed; the write it was for is not acknowledged. */
export class StoreWriteError extends MeshError<'ERR_STORE_WRITE_FAILED'> {
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_WRITE_FAILED', message, options);
    this.path = path;
  }
}

const SNAPSHOT = 'snapshot.json';
const LOG = 'changes.log';
const NEWLINE = 0x0a;
const RESOLVED = Promise.resolve();

export class StoreLog {
  readonly dir: string;
  readonly #path: string;
  readonly #fd: number;
  readonly #files: LogFiles;
  readonly #groupCommit: boolean;
  /** Bytes of complete records in the file: where a write that failed halfway is cut back to. */
  #size: number;
  /** Bytes appended since open; unlike #size never reset, so fsync coverage survives snapshots. */
  #appended = 0;
  /** Everything appended before this mark is on disk. */
  #synced = 0;
  /** #appended when the in-flight fsync started; undefined when none is in flight. */
  #syncingUpTo: number | undefined;
  /** Callers waiting for the in-flight fsync, and for the one after it. */
  #current: PromiseWithResolvers<void> | undefined;
  #next: PromiseWithResolvers<void> | undefined;
  #failed: StoreWriteError | undefined;
  #closed = false;

  private constructor(dir: string, fd: number, size: number, opts: StoreLogOptions) {
    this.dir = dir;
    this.#path = join(dir, LOG);
    this.#fd = fd;
    this.#size = size;
    this.#files = opts.files ?? nodeFiles;
    this.#groupCommit = opts.durability === 'group-commit';
  }

  /**
   * Opens (creating if missing) the store directory and reads what it holds; cuts off an
   * incomplete last line. Throws StoreCorruptError for anything else it cannot read.
   */
  static open(dir: string, opts: StoreLogOptions = {}): { log: StoreLog; state: LoadedState } {
    mkdirSync(dir, { recursive: true });
    const snapshot = readSnapshot(join(dir, SNAPSHOT));
    const path = join(dir, LOG);
    const bytes = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
    const { entries, completeBytes } = parseLog(bytes, snapshot.rv, path);
    const fd = openSync(path, 'a');
    if (completeBytes < bytes.length) {
      // Before the first append: otherwise the next record is glued onto the fragment, the
      // joined line no longer parses, and every write after it is lost on the next open.
      try {
        ftruncateSync(fd, completeBytes);
        (opts.files ?? nodeFiles).fsyncSync(fd);
      } catch (err) {
        closeSync(fd);
        throw new StoreWriteError(path, `cannot cut the incomplete last line off ${path}: ${(err as Error).message}`, { cause: err });
      }
      opts.logger?.warn(
        { path, offset: completeBytes, droppedBytes: bytes.length - completeBytes },
        'store log: dropped an incomplete last line (a write interrupted by a crash, never acknowledged)',
      );
    }
    return { log: new StoreLog(dir, fd, completeBytes, opts), state: { snapshot, entries } };
  }

  /** Appends one record whole; with `per-write` durability, also on disk when this returns. */
  append(entry: LogEntry): void {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new StoreWriteError(this.#path, `the store log ${this.#path} is closed`);
    const bytes = Buffer.from(`${JSON.stringify(entry)}\n`);
    try {
      writeWhole(this.#files, this.#fd, bytes, this.#path);
    } catch (err) {
      this.#cutBack(err);
    }
    this.#size += bytes.length;
    this.#appended += bytes.length;
    if (!this.#groupCommit) {
      try {
        this.#files.fsyncSync(this.#fd);
      } catch (err) {
        throw this.#fail(err);
      }
      this.#synced = this.#appended;
    } else if (this.#syncingUpTo === undefined) {
      this.#startSync();
    }
  }

  /** Resolves when every record appended before this call is on disk. */
  durable(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#synced >= this.#appended) return RESOLVED;
    if (this.#syncingUpTo === this.#appended) return (this.#current ??= Promise.withResolvers()).promise;
    const next = (this.#next ??= Promise.withResolvers()).promise;
    if (this.#syncingUpTo === undefined) this.#startSync();
    return next;
  }

  /** Writes a full snapshot atomically, then empties the log. */
  snapshot(snapshot: Snapshot): void {
    if (this.#failed) throw this.#failed;
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeWhole(this.#files, fd, Buffer.from(JSON.stringify(snapshot)), tmp);
        this.#files.fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(this.dir, SNAPSHOT));
      fsyncDir(this.dir);
    } catch (err) {
      // The log is untouched and still complete: only this snapshot is lost.
      throw new StoreWriteError(tmp, `cannot write the store snapshot ${tmp}: ${(err as Error).message}`, { cause: err });
    }
    // Everything appended so far is in the snapshot, which is on disk.
    this.#synced = this.#appended;
    this.#current?.resolve();
    this.#next?.resolve();
    this.#current = this.#next = undefined;
    // Entries up to snapshot.rv are now redundant; load() skips them anyway, so a crash
    // between the rename and this truncation is harmless. The same fd stays open (O_APPEND
    // writes go to the new end) because an fsync may be in flight on it.
    try {
      ftruncateSync(this.#fd, 0);
    } catch (err) {
      throw this.#fail(err);
    }
    this.#size = 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.#failed && this.#synced < this.#appended) {
        this.#files.fsyncSync(this.#fd);
        this.#synced = this.#appended;
        this.#current?.resolve();
        this.#next?.resolve();
      }
    } catch (err) {
      throw this.#fail(err);
    } finally {
      // An fd closed under an in-flight fsync could be reused by the next open(); the fsync's
      // completion closes it instead.
      if (this.#syncingUpTo === undefined) closeSync(this.#fd);
    }
  }

  #startSync(): void {
    this.#syncingUpTo = this.#appended;
    this.#current = this.#next;
    this.#next = undefined;
    this.#files.fsync(this.#fd, this.#onSynced);
  }

  readonly #onSynced = (err: NodeJS.ErrnoException | null): void => {
    const upTo = this.#syncingUpTo!;
    const waiting = this.#current;
    this.#syncingUpTo = this.#current = undefined;
    if (this.#closed) closeSync(this.#fd);
    if (err) {
      waiting?.reject(this.#fail(err));
      return;
    }
    this.#synced = Math.max(this.#synced, upTo);
    waiting?.resolve();
    if (!this.#closed && !this.#failed && this.#appended > this.#synced) this.#startSync();
  };

  /** Removes a partly written record so that the file stays a sequence of complete lines. */
  #cutBack(err: unknown): never {
    const message = (err as Error).message;
    try {
      ftruncateSync(this.#fd, this.#size);
    } catch (cutErr) {
      // A fragment stays at the end; any later record would be glued onto it.
      throw this.#fail(cutErr, `a write to ${this.#path} failed (${message}) and the partial record could not be cut off`);
    }
    throw new StoreWriteError(this.#path, `cannot write to ${this.#path}: ${message}`, { cause: err });
  }

  /** From now on every write fails: after a failed fsync the kernel may have dropped written data. */
  #fail(err: unknown, what = `fsync of ${this.#path} failed (${(err as Error).message})`): StoreWriteError {
    this.#failed ??= new StoreWriteError(this.#path, `${what}: the store accepts no more writes; restart the API server to reload what is on disk`, {
      cause: err,
    });
    this.#current?.reject(this.#failed);
    this.#next?.reject(this.#failed);
    this.#current = this.#next = undefined;
    return this.#failed;
  }
}

function writeWhole(files: LogFiles, fd: number, bytes: Buffer, path: string): void {
  let offset = 0;
  while (offset < bytes.length) {
    const n = files.writeSync(fd, bytes, offset, bytes.length - offset);
    // A regular file that takes nothing will not take it on the next try either.
    if (n <= 0) throw new StoreWriteError(path, `write(2) wrote ${n} of ${bytes.length - offset} bytes`);
    offset += n;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function loadState(dir: string): LoadedState {
  const snapshot = readSnapshot(join(dir, SNAPSHOT));
  const path = join(dir, LOG);
  const entries = existsSync(path) ? parseLog(readFileSync(path), snapshot.rv, path).entries : [];
  return { snapshot, entries };
}

function readSnapshot(path: string): Snapshot {
  if (!existsSync(path)) return { rv: 0, resources: {} };
  let snapshot: Snapshot;
  try {
    snapshot = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  } catch (err) {
    throw snapshotCorrupt(path, (err as Error).message, err);
  }
  if (!isRecord(snapshot) || !Number.isSafeInteger(snapshot.rv) || !isRecord(snapshot.resources)) {
    throw snapshotCorrupt(path, 'it is not a {rv, resources} object');
  }
  return snapshot;
}

function snapshotCorrupt(path: string, problem: string, cause?: unknown): StoreCorruptError {
  return new StoreCorruptError(
    path,
    undefined,
    `store snapshot ${path} is unreadable: ${problem}. Snapshots are replaced atomically, so it was damaged from outside; ` +
      `the directory is yours to repair: restore the file from a copy, or move the store directory aside to start an empty cluster`,
    cause === undefined ? undefined : { cause },
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses the log: every complete line must be a valid entry with a growing resourceVersion,
 * else StoreCorruptError. Bytes after the last newline (an interrupted write) are not
 * entries; `completeBytes` is where they start.
 */
export function parseLog(bytes: Buffer, afterRv: number, path: string): { entries: LogEntry[]; completeBytes: number } {
  const entries: LogEntry[] = [];
  let start = 0;
  let line = 1;
  let prevRv = 0;
  for (; ; line++) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end < 0) break;
    let value: unknown;
    let problem: string | undefined;
    try {
      value = JSON.parse(utf8.decode(bytes.subarray(start, end)));
      problem = entryProblem(value, prevRv);
    } catch (err) {
      problem = (err as Error).message;
    }
    if (problem !== undefined) throw lineCorrupt(path, bytes, line, start, problem);
    const entry = value as LogEntry;
    if (entry.rv > afterRv) entries.push(entry);
    prevRv = entry.rv;
    start = end + 1;
  }
  return { entries, completeBytes: start };
}

function entryProblem(value: unknown, prevRv: number): string | undefined {
  if (!isRecord(value)) return 'not a JSON object';
  if (!Number.isSafeInteger(value.rv) || (value.rv as number) <= prevRv) return `resourceVersion ${JSON.stringify(value.rv)} does not follow ${prevRv}`;
  if (typeof value.r !== 'string' || typeof value.k !== 'string') return 'no resource or key';
  if (value.o !== undefined && !(isRecord(value.o) && isRecord(value.o.metadata))) return 'an object without metadata';
  return undefined;
}

function lineCorrupt(path: string, bytes: Buffer, line: number, offset: number, problem: string): StoreCorruptError {
  let after = 0;
  for (let i = bytes.indexOf(NEWLINE, offset) + 1; i > 0 && i < bytes.length; i = bytes.indexOf(NEWLINE, i) + 1) after++;
  return new StoreCorruptError(
    path,
    offset,
    `store log ${path} is corrupt at line ${line} (byte offset ${offset}): ${problem}. ` +
      `Only an incomplete last line (a write a crash interrupted) is repaired automatically; this line is complete, ` +
      `so the file was damaged or edited, and dropping it and the ${after} line(s) after it could lose acknowledged writes. ` +
      `The directory is yours to repair: keep a copy of it, then fix the line by hand, or cut the log before it ` +
      `(truncate -s ${offset} ${path}: keeps the ${line - 1} line(s) before it, loses the rest), and start again`,
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
