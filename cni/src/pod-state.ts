// The pods the agent has been told about (by the plugin's ADD, or found at start), each with the
// CNI attachment (container id + interface) that added it, kept in a file under the agent's run
// dir so that a restarted agent still knows them: it reloads the file, drops what no longer
// exists, and serves ztunnel the rest. Writes are atomic (temporary file, then rename).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PodInfo } from '@ambient/api';

export interface PodAttachment {
  containerId: string;
  ifName: string;
  pod: PodInfo;
}

const stateVersion = 1;

/** The attachment id of a pod found at start rather than by an ADD: the runtime's DEL then names it by uid. */
export const reconciledPrefix = 'reconciled:';

export class PodState {
  readonly #file: string;
  readonly #byContainer = new Map<string, PodAttachment>();

  constructor(file: string) {
    this.#file = file;
  }

  /** Attachments recorded by an earlier run; a missing or unreadable file is an empty state. */
  static load(file: string): { state: PodState; loaded: PodAttachment[]; problem?: string } {
    const state = new PodState(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return { state, loaded: [] };
    }
    try {
      const doc = JSON.parse(text) as { version?: unknown; attachments?: unknown };
      if (doc.version !== stateVersion || !Array.isArray(doc.attachments)) throw new Error(`unknown state version ${String(doc.version)}`);
      const loaded = (doc.attachments as unknown[]).filter(isAttachment);
      return { state, loaded };
    } catch (err) {
      return { state, loaded: [], problem: `${file}: ${(err as Error).message}` };
    }
  }

  get(containerId: string): PodAttachment | undefined {
    return this.#byContainer.get(containerId);
  }

  byUid(uid: string): PodAttachment | undefined {
    for (const a of this.#byContainer.values()) if (a.pod.uid === uid) return a;
    return undefined;
  }

  all(): PodAttachment[] {
    return [...this.#byContainer.values()];
  }

  /** Takes these attachments in (a restart's survivors), written once. */
  restore(list: PodAttachment[]): void {
    for (const a of list) this.#byContainer.set(a.containerId, a);
    this.save();
  }

  set(a: PodAttachment): void {
    this.#byContainer.set(a.containerId, a);
    this.save();
  }

  delete(containerId: string): PodAttachment | undefined {
    const a = this.#byContainer.get(containerId);
    if (!a) return undefined;
    this.#byContainer.delete(containerId);
    this.save();
    return a;
  }

  save(): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: stateVersion, attachments: this.all() })}\n`, { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
}

function isAttachment(a: unknown): a is PodAttachment {
  const x = a as Partial<PodAttachment> | null;
  const p = x?.pod as Partial<PodInfo> | undefined;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.containerId === 'string' &&
    typeof x.ifName === 'string' &&
    typeof p === 'object' &&
    p !== null &&
    ['uid', 'name', 'namespace', 'ip', 'netns', 'netnsPath'].every((k) => typeof (p as Record<string, unknown>)[k] === 'string')
  );
}
