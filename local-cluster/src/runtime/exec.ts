// The one place that runs host tools (ip, iptables-restore, sysctl...). Always argument arrays,
// never a shell, always a time limit: a hung `ip netns exec` must not hang the cluster.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MeshError } from '@ambient/api';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends MeshError<'ERR_COMMAND_FAILED'> {
  readonly exitCode: number;
  readonly stderr: string;
  constructor(command: string[], exitCode: number, stderr: string, cause?: unknown) {
    super('ERR_COMMAND_FAILED', `command failed (exit ${exitCode}): ${command.join(' ')}: ${stderr.trim() || 'no output'}`, { cause });
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** The whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Aborting kills the command and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Runs a command; resolves with its exit code instead of throwing on a non-zero one.
 *  Rejects only when it cannot be started, runs past `timeoutMs` or is aborted. */
export function runCommand(command: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = command;
  if (!file) return Promise.reject(new Error('empty command'));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        if (opts.signal?.aborted) return reject(opts.signal.reason);
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        if (e.killed) return reject(new Error(`command timed out after ${timeoutMs} ms: ${command.join(' ')}`, { cause: err }));
        if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
        reject(new Error(`cannot run ${file}: ${e.message}`, { cause: err }));
      },
    );
    // execFile leaves stdin open as a pipe: close it (after writing the input, if any) so
    // tools that read stdin (iptables-restore) see EOF and others do not wait on it.
    child.stdin?.on('error', () => {}); // the process may exit before reading its input
    child.stdin?.end(opts.input ?? '');
  });
}

/** Like runCommand, but a non-zero exit is an error carrying the command and its stderr. */
export async function mustRun(command: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runCommand(command, opts);
  if (r.code !== 0) throw new CommandError(command, r.code, r.stderr || r.stdout);
  return r.stdout;
}

let ipPath: string | undefined;
/** Absolute path of `ip`, so a process spawned with a caller-provided PATH still finds it. */
export function ipBinary(): string {
  ipPath ??= ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
  return ipPath;
}
