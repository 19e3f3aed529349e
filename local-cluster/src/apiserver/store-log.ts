// Durable state of the store: a snapshot file plus an append-only log of the writes since.
// A write is one JSON line appended with a single write(2) before the HTTP response goes
// out, so a crashed process loses nothing it acknowledged; a torn last line (power loss in
// the middle of a write) is ignored on load. Snapshots go through temp file + fsync +
// rename, so a reader always sees either the old or the new snapshot, never half of one.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
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

const SNAPSHOT = 'snapshot.json';
const LOG = 'changes.log';

export class StoreLog {
  readonly dir: string;
  #fd: number;

  private constructor(dir: string, fd: number) {
    this.dir = dir;
    this.#fd = fd;
  }

  /** Opens (creating if missing) the store directory and reads what it holds. */
  static open(dir: string): { log: StoreLog; state: LoadedState } {
    mkdirSync(dir, { recursive: true });
    const state = loadState(dir);
    const fd = openSync(join(dir, LOG), 'a');
    return { log: new StoreLog(dir, fd), state };
  }

  append(entry: LogEntry): void {
    writeSync(this.#fd, JSON.stringify(entry) + '\n');
  }

  /** Writes a full snapshot atomically, then starts an empty log. */
  snapshot(snapshot: Snapshot): void {
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(snapshot));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, SNAPSHOT));
    fsyncDir(this.dir);
    // Entries up to snapshot.rv are now redundant; load() skips them anyway, so a crash
    // between the rename and this truncation is harmless.
    closeSync(this.#fd);
    this.#fd = openSync(join(this.dir, LOG), 'w');
  }

  close(): void {
    fsyncSync(this.#fd);
    closeSync(this.#fd);
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
  const snapPath = join(dir, SNAPSHOT);
  const snapshot: Snapshot = existsSync(snapPath) ? (JSON.parse(readFileSync(snapPath, 'utf8')) as Snapshot) : { rv: 0, resources: {} };
  const logPath = join(dir, LOG);
  const entries = existsSync(logPath) ? parseLog(readFileSync(logPath, 'utf8'), snapshot.rv) : [];
  return { snapshot, entries };
}

/** Parses log text; stops at the first incomplete or corrupt line (a torn write). */
export function parseLog(text: string, afterRv: number): LogEntry[] {
  const entries: LogEntry[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) break; // a last line without newline was never completely written
    let entry: LogEntry;
    try {
      entry = JSON.parse(text.slice(start, end)) as LogEntry;
    } catch {
      break;
    }
    if (entry.rv > afterRv) entries.push(entry);
    start = end + 1;
  }
  return entries;
}
