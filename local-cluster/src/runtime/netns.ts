// Processes and lifecycles of network namespaces. Everything goes through `ip netns exec`, which
// also bind-mounts /etc/netns/<name>/* over /etc/* for the process: that is how a pod gets
// its own hosts file without a container runtime.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipBinary, mustRun, runCommand, type RunOptions, type RunResult } from './exec.ts';
import { netnsPath } from './network-plan.ts';

export function netnsExists(netns: string): boolean {
  return existsSync(netnsPath(netns));
}

/** Names from `ip netns list` (lines look like `name` or `name (id: 3)`). */
export async function listNetns(): Promise<string[]> {
  const out = await mustRun([ipBinary(), 'netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

export async function ensureNetns(netns: string): Promise<void> {
  if (netnsExists(netns)) return;
  const r = await runCommand([ipBinary(), 'netns', 'add', netns]);
  // A concurrent creator may have won the race; that is fine.
  if (r.code !== 0 && !netnsExists(netns)) throw new Error(`cannot create netns ${netns}: ${r.stderr.trim()}`);
}

/** Starts a process inside `netns`. `env` replaces the environment when given (the caller
 *  builds the whole of it, PATH included); stdout and stderr are appended to `logFile`. */
export function spawnInNetns(netns: string, command: string[], opts: { env?: Record<string, string>; cwd?: string; logFile?: string } = {}): ChildProcess {
  if (command.length === 0) throw new Error(`empty command for netns ${netns}`);
  let fd: number | undefined;
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    fd = openSync(opts.logFile, 'a');
  }
  try {
    // `ip netns exec` execs the command after setns, so child.pid is the command's own pid.
    return spawn(ipBinary(), ['netns', 'exec', netns, ...command], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', fd ?? 'ignore', fd ?? 'ignore'],
    });
  } finally {
    if (fd !== undefined) closeSync(fd); // the child holds its own copy
  }
}

/** Runs a command inside `netns` to completion; a non-zero exit is reported, not thrown. */
export function execInNetns(netns: string, command: string[], opts: RunOptions = {}): Promise<RunResult> {
  if (command.length === 0) return Promise.reject(new Error(`empty command for netns ${netns}`));
  return runCommand([ipBinary(), 'netns', 'exec', netns, ...command], opts);
}

export async function netnsPids(netns: string): Promise<number[]> {
  if (!netnsExists(netns)) return [];
  const r = await runCommand([ipBinary(), 'netns', 'pids', netns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM everything in the netns, then SIGKILL whatever is left after `graceMs`. */
export async function killNetnsProcesses(netns: string, graceMs = 2000): Promise<void> {
  let pids = await netnsPids(netns);
  if (pids.length === 0) return;
  signal(pids, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    await sleep(50);
    pids = await netnsPids(netns);
  }
  if (pids.length === 0) return;
  signal(pids, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (pids.length > 0 && Date.now() < killDeadline) {
    await sleep(20);
    pids = await netnsPids(netns);
  }
}

/** Kills the processes, then deletes the netns (its interfaces go with it). Idempotent. */
export async function deleteNetns(netns: string): Promise<void> {
  await killNetnsProcesses(netns);
  if (!netnsExists(netns)) return;
  const r = await runCommand([ipBinary(), 'netns', 'delete', netns]);
  if (r.code !== 0 && netnsExists(netns)) throw new Error(`cannot delete netns ${netns}: ${r.stderr.trim()}`);
}
