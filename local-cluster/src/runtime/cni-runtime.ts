// The container runtime's CNI side (what libcni does for containerd): read the node's network
// configuration list (the first file of its conf dir), run each plugin in order for ADD with the
// previous plugin's result, in reverse for DEL, and remember each attachment's result (for DEL
// and CHECK, in libcni's cache format). Plugins are executables found in the node's bin dirs,
// run in the node's network namespace with the CNI_* variables and their config on stdin.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshError } from '@ambient/api';
import { runCommand } from './exec.ts';

export interface CniNetworkList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  [key: string]: unknown;
}

/** What the runtime remembers of an attachment (libcni's `cniCacheV1` in /var/lib/cni/results,
 *  plus the netns path): DEL and CHECK get the result back, and a CNI agent started later
 *  learns from it which pods were attached before it. */
export interface CniCacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  ifName: string;
  networkName: string;
  netns: string;
  cniArgs: [string, string][];
  result: CniResult;
}

/** One pod's attachment to the network. */
export interface CniAttachment {
  containerId: string;
  netnsPath: string;
  ifName: string;
  /** CNI_ARGS pairs (K8S_POD_NAMESPACE...). */
  args: [string, string][];
}

export class CniPluginError extends MeshError<'ERR_CNI_PLUGIN'> {
  readonly cniCode: number | undefined;
  /** The plugin that failed (its type), when one did. */
  readonly plugin: string | undefined;
  constructor(message: string, opts: { cniCode?: number; plugin?: string } = {}) {
    super('ERR_CNI_PLUGIN', message);
    this.cniCode = opts.cniCode;
    this.plugin = opts.plugin;
  }
}

/** The first `.conflist`/`.conf`/`.json` of `confDir` by name, as libcni picks it; a `.conf` is a list of one. */
export function loadNetworkList(confDir: string): CniNetworkList {
  const name = existsSync(confDir)
    ? readdirSync(confDir)
        .filter((f) => !f.startsWith('.') && /\.(conflist|conf|json)$/.test(f))
        .sort()[0]
    : undefined;
  if (!name) throw new CniPluginError(`no CNI network configuration in ${confDir}`);
  const file = join(confDir, name);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CniPluginError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const plugins = Array.isArray(doc.plugins) ? (doc.plugins as Record<string, unknown>[]) : [doc];
  if (typeof doc.cniVersion !== 'string' || typeof doc.name !== 'string' || plugins.some((p) => typeof p?.type !== 'string'))
    throw new CniPluginError(`${file} is not a CNI network configuration (cniVersion, name and each plugin's type are required)`);
  return { cniVersion: doc.cniVersion, name: doc.name, plugins };
}

export interface CniRuntimeOptions {
  confDir: string;
  /** Searched in order for a plugin's executable (CNI_PATH). */
  binDirs: string[];
  /** Where attachment results are kept between ADD and DEL. */
  cacheDir: string;
  /** The network namespace plugins run in (the node's). */
  netnsPath: string;
  timeoutMs?: number;
}

export class CniRuntime {
  readonly #opts: CniRuntimeOptions;

  constructor(opts: CniRuntimeOptions) {
    this.#opts = opts;
  }

  /** Runs the loopback plugin on the pod's netns (containerd does this before the network list). */
  async loopback(netnsPath: string, containerId: string): Promise<void> {
    const list: CniNetworkList = { cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] };
    await this.#exec('ADD', list, list.plugins[0]!, { containerId, netnsPath, ifName: 'lo', args: [] });
  }

  async add(a: CniAttachment): Promise<CniResult> {
    const list = loadNetworkList(this.#opts.confDir);
    let prev: CniResult | undefined;
    for (const plugin of list.plugins) prev = await this.#exec('ADD', list, plugin, a, prev);
    if (!prev) throw new CniPluginError(`the network ${list.name} has no plugins`);
    mkdirSync(this.#opts.cacheDir, { recursive: true });
    const cached: CniCacheEntry = {
      kind: 'cniCacheV1',
      containerId: a.containerId,
      ifName: a.ifName,
      networkName: list.name,
      netns: a.netnsPath,
      cniArgs: a.args,
      result: prev,
    };
    writeFileSync(cacheFile(this.#opts.cacheDir, list, a), JSON.stringify(cached));
    return prev;
  }

  /** Every plugin in reverse, each tried even if an earlier one failed; idempotent. */
  async del(a: CniAttachment): Promise<void> {
    const list = loadNetworkList(this.#opts.confDir);
    const file = cacheFile(this.#opts.cacheDir, list, a);
    const prev = cachedResult(file);
    const errors: string[] = [];
    for (const plugin of [...list.plugins].reverse()) {
      await this.#exec('DEL', list, plugin, a, prev).catch((err: unknown) => errors.push((err as Error).message));
    }
    if (errors.length > 0) throw new CniPluginError(`CNI DEL of ${a.containerId}: ${errors.join('; ')}`);
    rmSync(file, { force: true });
  }

  /** Whether an ADD of this attachment left a result that no DEL has removed yet. */
  attached(a: CniAttachment): boolean {
    return existsSync(cacheFile(this.#opts.cacheDir, loadNetworkList(this.#opts.confDir), a));
  }

  async check(a: CniAttachment): Promise<void> {
    const list = loadNetworkList(this.#opts.confDir);
    const prev = cachedResult(cacheFile(this.#opts.cacheDir, list, a));
    if (!prev) throw new CniPluginError(`no cached result for ${a.containerId}: nothing to check`);
    for (const plugin of list.plugins) await this.#exec('CHECK', list, plugin, a, prev);
  }

  async #exec(
    command: 'ADD' | 'DEL' | 'CHECK',
    list: CniNetworkList,
    plugin: Record<string, unknown>,
    a: CniAttachment,
    prev?: CniResult,
  ): Promise<CniResult | undefined> {
    const type = String(plugin.type);
    const binary = this.#opts.binDirs.map((d) => join(d, type)).find((p) => existsSync(p));
    if (!binary) throw new CniPluginError(`CNI plugin ${type} not found in ${this.#opts.binDirs.join(':')}`);
    const conf = { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(prev ? { prevResult: prev } : {}) };
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netnsPath,
      CNI_IFNAME: a.ifName,
      CNI_ARGS: a.args.map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.#opts.binDirs.join(':'),
    };
    const r = await runCommand(['nsenter', `--net=${this.#opts.netnsPath}`, binary], {
      input: JSON.stringify(conf),
      env,
      timeoutMs: this.#opts.timeoutMs ?? 60_000,
    });
    if (r.code !== 0) {
      let detail = (r.stdout || r.stderr).trim();
      let code: number | undefined;
      try {
        const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
        code = e.code;
        detail = `${e.msg ?? ''}${e.details ? ` (${e.details})` : ''} [CNI error ${e.code}]`;
      } catch {
        /* not a CNI error document: report the raw output */
      }
      throw new CniPluginError(`CNI plugin ${type} ${command} failed (exit ${r.code}): ${detail || 'no output'}`, {
        ...(code !== undefined ? { cniCode: code } : {}),
        plugin: type,
      });
    }
    if (command !== 'ADD') return undefined;
    try {
      return JSON.parse(r.stdout) as CniResult;
    } catch {
      throw new CniPluginError(`CNI plugin ${type} ADD printed no JSON result: ${r.stdout.slice(0, 200)}`);
    }
  }
}

/** libcni's name for an attachment's cached result (`<network>-<container id>-<interface>`); the agent reads these at start. */
function cacheFile(cacheDir: string, list: CniNetworkList, a: CniAttachment): string {
  return join(cacheDir, `${list.name}-${a.containerId}-${a.ifName}`);
}

function cachedResult(file: string): CniResult | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as CniCacheEntry).result;
  } catch {
    return undefined;
  }
}
