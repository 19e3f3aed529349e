// One proxy process's memory and CPU, read from /proc: RSS and PSS from
// /proc/<pid>/smaps_rollup, CPU seconds (utime + stime) from /proc/<pid>/stat. The parsers take
// the files' text, so they are tested on fixtures and on /proc/self; the readers around them
// are a few lines. Figures are per process: a process's children are not counted (stat's
// cutime/cstime are left out), because every proxy is one process and a child would be
// something else's cost. Reading another user's smaps_rollup needs ptrace access (root here).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcMemory {
  rssBytes: number;
  pssBytes: number;
}

/**
 * `Rss:` and `Pss:` of /proc/<pid>/smaps_rollup (Linux ≥ 4.14): the sums over every mapping of
 * the process, in kB (the kernel's "kB" is KiB). Pss counts a page shared by k processes as 1/k.
 */
export function parseSmapsRollup(text: string): ProcMemory {
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`smaps_rollup has no '${field}: <n> kB' line: ${JSON.stringify(text.slice(0, 120))}`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kib('Rss'), pssBytes: kib('Pss') };
}

export interface ProcCpuTicks {
  /** Time in user mode, in clock ticks (field 14 of /proc/<pid>/stat). */
  utimeTicks: number;
  /** Time in kernel mode, in clock ticks (field 15). */
  stimeTicks: number;
  /** When the process started, in clock ticks after boot (field 22): tells a reused pid apart. */
  startTimeTicks: number;
}

/**
 * /proc/<pid>/stat: `pid (comm) state ppid ...`. comm may hold spaces and parentheses, so the
 * fields are counted from the last `)`: state is field 3, utime 14, stime 15, starttime 22.
 */
export function parseProcStat(text: string): ProcCpuTicks {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`/proc stat line has no '(comm)': ${JSON.stringify(text.slice(0, 120))}`);
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const field = (n: number, name: string): number => {
    const raw = fields[n - 3];
    const v = Number(raw);
    if (raw === undefined || !Number.isSafeInteger(v) || v < 0) throw new Error(`/proc stat field ${n} (${name}) is '${raw ?? 'missing'}', not a tick count`);
    return v;
  };
  return { utimeTicks: field(14, 'utime'), stimeTicks: field(15, 'stime'), startTimeTicks: field(22, 'starttime') };
}

let ticksPerSecond: { hz: number; source: string } | undefined;

/**
 * USER_HZ, the unit of stat's times: `getconf CLK_TCK`, asked once per process. It is 100 on
 * every Linux build in practice, which is the fallback (said so in `source`) when getconf fails.
 */
export function clockTicksPerSecond(): { hz: number; source: string } {
  if (ticksPerSecond) return ticksPerSecond;
  try {
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
    if (!Number.isInteger(hz) || hz <= 0) throw new Error(`getconf CLK_TCK printed '${hz}'`);
    ticksPerSecond = { hz, source: 'getconf CLK_TCK' };
  } catch (err) {
    ticksPerSecond = { hz: 100, source: `assumed 100 Hz: ${(err as Error).message}` };
  }
  return ticksPerSecond;
}

export interface ProcSample extends ProcMemory {
  pid: number;
  /** utime + stime since the process started. */
  cpuSeconds: number;
  startTimeTicks: number;
}

/** Reads one process's memory and cumulative CPU. Throws, naming the pid, when it is gone or unreadable. */
export function readProcSample(pid: number, procRoot = '/proc'): ProcSample {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`not a pid: ${pid}`);
  const read = (file: string): string => {
    const path = `${procRoot}/${pid}/${file}`;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') throw new Error(`process ${pid} is gone (${path}: ${code})`, { cause: err });
      if (code === 'EACCES' || code === 'EPERM') throw new Error(`cannot read ${path} (${code}): another user's smaps_rollup needs root`, { cause: err });
      throw err;
    }
  };
  // stat first: a process that exits between the two reads fails on smaps_rollup, never
  // silently pairs one process's CPU with another's memory.
  const cpu = parseProcStat(read('stat'));
  const mem = parseSmapsRollup(read('smaps_rollup'));
  const { hz } = clockTicksPerSecond();
  return { pid, ...mem, cpuSeconds: (cpu.utimeTicks + cpu.stimeTicks) / hz, startTimeTicks: cpu.startTimeTicks };
}

/** CPU seconds a process spent between two samples; refuses two different processes under one pid. */
export function cpuSecondsBetween(before: ProcSample, after: ProcSample): number {
  if (before.pid !== after.pid || before.startTimeTicks !== after.startTimeTicks)
    throw new Error(`pid ${after.pid} is not the process sampled before (start ${before.startTimeTicks} → ${after.startTimeTicks} ticks): it restarted`);
  return after.cpuSeconds - before.cpuSeconds;
}
