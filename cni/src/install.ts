// Installing the plugin on the node: its executable into the CNI bin dir, and its entry at the
// end of the primary CNI's conflist (the first config file in the conf dir, as runtimes pick
// it). A primary CNI that rewrites its file (on its own restart or upgrade) drops our entry:
// ConflistGuard watches the directory and puts the entry back, so a pod created afterwards is
// still handed to ztunnel. Every write is a temporary file renamed into place, so a runtime
// never reads half a file.
import { EventEmitter } from 'node:events';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { MeshError } from '@ambient/api';

export const pluginType = 'ambient-cni';

export class CniConfigError extends MeshError<'ERR_CNI_CONFIG'> {
  constructor(message: string) {
    super('ERR_CNI_CONFIG', message);
  }
}

/** Copies the plugin executable into `binDir` unless the same bytes are there; true if written. */
export function installPluginBinary(source: string, binDir: string): boolean {
  const target = join(binDir, pluginType);
  const bytes = readFileSync(source);
  if (existsSync(target) && readFileSync(target).equals(bytes)) return false;
  const tmp = join(binDir, `.${pluginType}.tmp`);
  writeFileSync(tmp, bytes);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return true;
}

/** The config file a runtime uses: the first `.conflist`/`.conf`/`.json` by name. */
export function primaryConfFile(confDir: string): string | undefined {
  if (!existsSync(confDir)) return undefined;
  const name = readdirSync(confDir)
    .filter((f) => !f.startsWith('.') && /\.(conflist|conf|json)$/.test(f))
    .sort()[0];
  return name === undefined ? undefined : join(confDir, name);
}

export type ChainOutcome = 'unchanged' | 'added' | 'no-primary';

/**
 * Makes `entry` the last plugin of the primary conflist (a single-plugin `.conf` becomes a
 * `.conflist` of the same name, as Istio's installer does). Idempotent.
 */
export function chainPlugin(confDir: string, entry: Record<string, unknown>): ChainOutcome {
  const file = primaryConfFile(confDir);
  if (!file) return 'no-primary';
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CniConfigError(`${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CniConfigError(`${file} is not a JSON object`);
  const list: Record<string, unknown> = Array.isArray(doc.plugins) ? doc : { cniVersion: doc.cniVersion, name: doc.name, plugins: [withoutListFields(doc)] };
  const plugins = list.plugins as Record<string, unknown>[];
  const ours = plugins.filter((p) => p?.type === pluginType);
  if (ours.length === 1 && plugins.at(-1) === ours[0] && isDeepStrictEqual(ours[0], entry) && file.endsWith('.conflist')) return 'unchanged';
  list.plugins = [...plugins.filter((p) => p?.type !== pluginType), entry];
  const target = file.endsWith('.conflist') ? file : file.replace(/\.(conf|json)$/, '.conflist');
  const tmp = join(confDir, `.${pluginType}.conflist.tmp`);
  writeFileSync(tmp, `${JSON.stringify(list, null, 2)}\n`);
  renameSync(tmp, target);
  if (target !== file) rmSync(file, { force: true });
  return 'added';
}

function withoutListFields(conf: Record<string, unknown>): Record<string, unknown> {
  const { cniVersion: _v, name: _n, ...plugin } = conf;
  return plugin;
}

export interface ConflistGuardEvents {
  /** Our entry was missing (or wrong) and has been written back. */
  repaired: [file: string | undefined];
  error: [Error];
}

/** Keeps our entry in the primary conflist: on every change in the directory, and every `resyncMs`. */
export class ConflistGuard extends EventEmitter<ConflistGuardEvents> {
  readonly #confDir: string;
  readonly #entry: Record<string, unknown>;
  readonly #resyncMs: number;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;

  constructor(confDir: string, entry: Record<string, unknown>, opts: { resyncMs?: number } = {}) {
    super();
    this.#confDir = confDir;
    this.#entry = entry;
    this.#resyncMs = opts.resyncMs ?? 5_000;
  }

  /** Installs the entry now (throws if the primary conflist cannot be read), then keeps it. */
  start(): ChainOutcome {
    const first = chainPlugin(this.#confDir, this.#entry);
    this.#watcher = watch(this.#confDir, () => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => this.check(), 50);
    });
    this.#watcher.on('error', (err) => this.emit('error', err));
    this.#timer = setInterval(() => this.check(), this.#resyncMs).unref();
    return first;
  }

  check(): void {
    try {
      if (chainPlugin(this.#confDir, this.#entry) === 'added') this.emit('repaired', primaryConfFile(this.#confDir));
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }
}
