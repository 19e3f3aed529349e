// Applies and removes the capture rules inside a pod's netns (nsenter + iptables-restore, one
// transaction each). Calls for the same netns are serialized; both are idempotent.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CaptureError } from './capture-error.ts';
import {
  defaultCaptureConfig,
  emptyTables,
  hasCaptureRules,
  parseIptablesSave,
  renderCaptureRemoval,
  renderCaptureUpdate,
  type CaptureConfig,
  type SavedRules,
} from './render-capture-rules.ts';

export { defaultCaptureConfig, renderCaptureRules, type CaptureConfig } from './render-capture-rules.ts';

const commandTimeoutMs = 10_000;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], timeout: commandTimeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // a child that exits early closes its stdin; 'close' reports it
    child.stdin.end(input ?? '');
  });
}

async function inNetns(netnsPath: string, argv: string[], input?: string): Promise<string> {
  if (!existsSync(netnsPath)) throw new CaptureError('ERR_CAPTURE_RULES', `netns ${netnsPath} does not exist`);
  const full = ['nsenter', `--net=${netnsPath}`, ...argv];
  let r: RunResult;
  try {
    r = await run(full, input);
  } catch (cause) {
    throw new CaptureError('ERR_CAPTURE_RULES', `cannot run ${full.join(' ')}: ${(cause as Error).message}`, { cause });
  }
  if (r.code !== 0) {
    throw new CaptureError('ERR_CAPTURE_RULES', `${full.join(' ')} failed (exit ${r.code ?? 'timeout'}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** The netns' `iptables-save` output. */
export function iptablesSave(netnsPath: string): Promise<string> {
  return inNetns(netnsPath, ['iptables-save']);
}

async function savedRules(netnsPath: string): Promise<{ text: string; rules: SavedRules }> {
  const text = await iptablesSave(netnsPath);
  return { text, rules: parseIptablesSave(text) };
}

function nftAvailable(): boolean {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((d) => d !== '' && existsSync(join(d, 'nft')));
}

const locks = new Map<string, Promise<unknown>>();

function serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const result = (locks.get(key) ?? Promise.resolve()).then(fn, fn);
  const tail = result.catch(() => {});
  locks.set(key, tail);
  void tail.then(() => {
    if (locks.get(key) === tail) locks.delete(key);
  });
  return result;
}

/** Installs (or refreshes) capture in the netns; a second call leaves one copy of the rules. */
export function installCaptureRules(netnsPath: string, config: CaptureConfig = defaultCaptureConfig): Promise<void> {
  return serial(netnsPath, async () => {
    const { rules } = await savedRules(netnsPath);
    const text = renderCaptureUpdate(config, rules); // validates config before anything runs
    await inNetns(netnsPath, ['iptables-restore', '-w', '5', '--noflush'], text);
  });
}

/** Removes every capture rule and chain from the netns, leaving it as it was before capture.
 *  Resolves true when there was something to remove. */
export function removeCaptureRules(netnsPath: string): Promise<boolean> {
  return serial(netnsPath, async () => {
    const before = await savedRules(netnsPath);
    if (!hasCaptureRules(before.rules)) return false;
    await inNetns(netnsPath, ['iptables-restore', '-w', '5', '--noflush'], renderCaptureRemoval(before.rules));
    // iptables-nft leaves the tables it created behind, empty; delete those we emptied so the
    // pod's ruleset reads exactly as before. Without the nft tool (Debian's iptables only
    // recommends it) they stay: empty tables with ACCEPT policies filter nothing.
    if (before.text.includes('(nf_tables)') && nftAvailable()) {
      const after = parseIptablesSave(await iptablesSave(netnsPath));
      for (const table of emptyTables(after)) {
        if (renderCaptureRemoval(new Map([[table, before.rules.get(table)!]])) === '') continue;
        await inNetns(netnsPath, ['nft', 'delete', 'table', 'ip', table]);
      }
    }
    return true;
  });
}

/** Whether the netns currently has capture rules. */
export async function captureRulesInstalled(netnsPath: string): Promise<boolean> {
  return hasCaptureRules((await savedRules(netnsPath)).rules);
}
