// The /proc parsers on fixtures (including a comm with spaces and parentheses) and on this very
// process's own files, and the reader's errors for a process that is gone.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clockTicksPerSecond, cpuSecondsBetween, parseProcStat, parseSmapsRollup, readProcSample } from '../../src/savings/proc-sample.ts';

// /proc/self/smaps_rollup and /proc/self/stat of a `node -e` process, captured on this machine
// (Linux 6.18, Node 24.21.0). Its stat's comm is the main thread's name.
const smapsFixture = `00400000-7ffea103e000 ---p 00000000 00:00 0                              [rollup]
Rss:               42928 kB
Pss:               40259 kB
Pss_Dirty:          8188 kB
Pss_Anon:           8180 kB
Pss_File:          32079 kB
Pss_Shmem:             0 kB
Shared_Clean:       3456 kB
Shared_Dirty:          0 kB
Private_Clean:     31284 kB
Private_Dirty:      8188 kB
Referenced:        42928 kB
Anonymous:          8180 kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
`;
const realStat =
  '32277 (MainThread) R 32276 32246 22467 0 -1 4194560 2814 0 0 0 3 0 0 0 20 0 7 0 2091558 1373147136 11088 18446744073709551615 7626752 52430497 140731599797488 0 0 0 0 16781312 17922 0 0 0 17 1 0 0 0 0 0 112535000 112706784 1141387264 140731599803808 140731599803978 140731599803978 140731599806417 0\n';

// Made up: a comm holding spaces and a ')', and children's times (cutime 89, cstime 10) to leave out.
const statFixture =
  '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 12000 0 3 0 1234 567 89 10 20 0 11 0 987654 1200000000 14578 18446744073709551615 1 1 0 0 0 0 0 4096 134234626 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n';

describe('savings: /proc samples', () => {
  it('reads Rss and Pss (kB) from smaps_rollup as bytes', () => {
    assert.deepEqual(parseSmapsRollup(smapsFixture), { rssBytes: 42928 * 1024, pssBytes: 40259 * 1024 });
  });

  it('does not take Pss_Anon or SwapPss for Pss', () => {
    const onlyOthers = smapsFixture.replace(/^Pss: .*\n/m, '');
    assert.throws(() => parseSmapsRollup(onlyOthers), /smaps_rollup has no 'Pss: <n> kB' line/);
  });

  it('refuses text that is not smaps_rollup, naming the missing field', () => {
    assert.throws(() => parseSmapsRollup('Name:\tnode\nVmRSS:\t 1000 kB\n'), /no 'Rss: <n> kB' line/);
  });

  it('reads utime, stime and starttime from a stat line', () => {
    assert.deepEqual(parseProcStat(realStat), { utimeTicks: 3, stimeTicks: 0, startTimeTicks: 2091558 });
  });

  it('counts stat fields from the last parenthesis, whatever the comm holds', () => {
    assert.deepEqual(parseProcStat(statFixture), { utimeTicks: 1234, stimeTicks: 567, startTimeTicks: 987654 });
  });

  it('leaves the children (cutime, cstime) out', () => {
    // Fields 16 and 17 (89 and 10 above) belong to reaped children, not this process.
    const t = parseProcStat(statFixture);
    assert.equal(t.utimeTicks + t.stimeTicks, 1801);
  });

  it('refuses a truncated stat line, naming the field', () => {
    assert.throws(() => parseProcStat('4242 (node) S 1 4242 4242 0 -1 4194560 12000 0 3 0'), /field 14 \(utime\) is 'missing'/);
    assert.throws(() => parseProcStat('4242 node S 1'), /has no '\(comm\)'/);
  });

  it('parses this process’s own smaps_rollup and stat', () => {
    const mem = parseSmapsRollup(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    assert.ok(mem.rssBytes > 10 * 1024 * 1024, `a Node process has more than 10 MiB resident, got ${mem.rssBytes}`);
    assert.ok(mem.pssBytes > 0 && mem.pssBytes <= mem.rssBytes, `0 < PSS ${mem.pssBytes} <= RSS ${mem.rssBytes}`);
    const cpu = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.ok(cpu.utimeTicks + cpu.stimeTicks > 0, 'loading mocha and TypeScript took some CPU');
    assert.ok(cpu.startTimeTicks > 0);
  });

  it('asks getconf for the clock tick rate', () => {
    const { hz, source } = clockTicksPerSecond();
    assert.equal(source, 'getconf CLK_TCK');
    assert.equal(hz, Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()));
  });

  it('samples a live process: its CPU matches its own view of it', () => {
    const s = readProcSample(process.pid);
    const own = process.cpuUsage(); // microseconds, this process only
    const ownSeconds = (own.user + own.system) / 1e6;
    // stat counts whole ticks; the sample was taken just before cpuUsage.
    assert.ok(s.cpuSeconds <= ownSeconds + 0.05 && s.cpuSeconds >= ownSeconds - 0.5, `stat ${s.cpuSeconds} s vs cpuUsage ${ownSeconds} s`);
    assert.ok(s.pssBytes > 0 && s.rssBytes >= s.pssBytes);
  });

  it('says a process is gone when its /proc entry is', () => {
    assert.throws(() => readProcSample(2 ** 22 + 1), /process 4194305 is gone/);
    assert.throws(() => readProcSample(0), /not a pid: 0/);
  });

  it('reads from another /proc root (fixtures)', () => {
    const root = mkdtempSync(join(tmpdir(), 'proc-'));
    try {
      mkdirSync(join(root, '4242'));
      writeFileSync(join(root, '4242/stat'), statFixture);
      writeFileSync(join(root, '4242/smaps_rollup'), smapsFixture);
      const s = readProcSample(4242, root);
      const { hz } = clockTicksPerSecond();
      assert.deepEqual(s, { pid: 4242, rssBytes: 42928 * 1024, pssBytes: 40259 * 1024, cpuSeconds: 1801 / hz, startTimeTicks: 987654 });
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  it('refuses a CPU difference across a restart under the same pid', () => {
    const before = { pid: 7, rssBytes: 1, pssBytes: 1, cpuSeconds: 10, startTimeTicks: 100 };
    assert.equal(cpuSecondsBetween(before, { ...before, cpuSeconds: 12.5 }), 2.5);
    assert.throws(() => cpuSecondsBetween(before, { ...before, cpuSeconds: 1, startTimeTicks: 900 }), /pid 7 is not the process sampled before.*restarted/);
  });
});
