// Writes the model's desired status conditions to the objects, through their status
// subresource with a merge patch, only while this replica leads and only where the object does
// not already show them. One bad write (object gone, schema refusal) is logged and skipped;
// the rest still go out.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage, isNotFound, LatestWins } from '@ambient/api/kube';
import type { ObjectStatus } from '../model/object-status.ts';
import { RawClient } from '../kube/raw-client.ts';
import { objectPath } from '../kube/resource-path.ts';
import { kubeTime, statusPatch } from './status-patch.ts';

export interface StatusWriterOptions {
  logger: Logger;
  /** Writes happen only while this returns true (e.g. `() => elector.isLeader`). Default: until stop(). */
  isLeader?: () => boolean;
  now?: () => number;
  /** Delay before failed writes are retried by update(). Default 2 s. */
  retryMs?: number;
}

export interface StatusWriteResult {
  written: number;
  unchanged: number;
  /** Objects that no longer exist. */
  missing: number;
  failed: number;
  /** True when nothing was attempted because this replica does not lead. */
  notLeader: boolean;
}

const key = (s: ObjectStatus): string => `${s.apiVersion}/${s.kind}/${s.namespace ?? ''}/${s.name}`;

export class StatusWriter {
  readonly #client: RawClient;
  readonly #opts: StatusWriterOptions;
  readonly #logger: Logger;
  /** What was last confirmed on each object, so an unchanged model costs no API call. */
  readonly #confirmed = new Map<string, string>();
  readonly #isLeader: () => boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;
  readonly #background: LatestWins<readonly ObjectStatus[]>;

  constructor(kc: KubeConfig, opts: StatusWriterOptions) {
    this.#client = RawClient.create(kc);
    this.#opts = opts;
    this.#logger = opts.logger.child({ component: 'status-writer' });
    const leader = opts.isLeader ?? (() => true);
    this.#isLeader = () => !this.#stopped && leader();
    this.#background = new LatestWins((input) => this.write(input), { retryMs: opts.retryMs ?? 2_000 });
  }

  /**
   * Fire and forget: writes `statuses` in the background. While a write runs, only the newest
   * pending model is kept (older ones are superseded); failures are retried after retryMs.
   */
  update(statuses: readonly ObjectStatus[]): void {
    this.#background.offer(statuses);
  }

  /** No writes after this (in-flight requests finish). */
  stop(): void {
    this.#stopped = true;
    void this.#background.stop();
  }

  /** Forget what was confirmed (call on becoming leader: another replica may have written since). */
  reset(): void {
    this.#confirmed.clear();
  }

  /** Applies `statuses`; calls are serialized so an older model never overwrites a newer one. */
  write(statuses: readonly ObjectStatus[]): Promise<StatusWriteResult> {
    const run = this.#queue.then(() => this.#write(statuses));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(statuses: readonly ObjectStatus[]): Promise<StatusWriteResult> {
    const result: StatusWriteResult = { written: 0, unchanged: 0, missing: 0, failed: 0, notLeader: false };
    for (const desired of statuses) {
      if (!this.#isLeader()) return { ...result, notLeader: true };
      const k = key(desired);
      const wanted = JSON.stringify(desired);
      if (this.#confirmed.get(k) === wanted) {
        result.unchanged++;
        continue;
      }
      try {
        const outcome = await this.#writeOne(desired);
        result[outcome]++;
        if (outcome !== 'missing') this.#confirmed.set(k, wanted);
      } catch (err) {
        result.failed++;
        this.#logger.warn({ object: k, err: apiErrorMessage(err) }, 'status write failed');
      }
    }
    return result;
  }

  async #writeOne(desired: ObjectStatus): Promise<'written' | 'unchanged' | 'missing'> {
    let current: { status?: unknown };
    try {
      current = await this.#client.get<{ status?: unknown }>(objectPath(desired));
    } catch (err) {
      if (isNotFound(err)) return 'missing';
      throw err;
    }
    const patch = statusPatch(current.status, desired, kubeTime((this.#opts.now ?? Date.now)()));
    if (!patch) return 'unchanged';
    try {
      await this.#client.mergePatch(objectPath(desired, 'status'), { status: patch });
    } catch (err) {
      if (isNotFound(err)) return 'missing';
      throw err;
    }
    return 'written';
  }
}
