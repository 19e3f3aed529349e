// Writes the model's desired status conditions to the objects, through their status
// subresource with a merge patch, only while this replica leads and only where the object does
// not already show them. One bad write (object gone, schema refusal) is logged and skipped;
// the rest still go out.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage, isNotFound } from '@ambient/api/kube';
import type { ObjectStatus } from '../model/object-status.ts';
import { RawClient } from '../kube/raw-client.ts';
import { objectPath } from '../kube/resource-path.ts';
import { LeaderWrites, type LeaderWritesOptions } from './leader-writes.ts';
import { kubeTime, statusPatch } from './status-patch.ts';

export interface StatusWriterOptions extends LeaderWritesOptions {
  logger: Logger;
  now?: () => number;
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

export class StatusWriter extends LeaderWrites<readonly ObjectStatus[], StatusWriteResult> {
  readonly #client: RawClient;
  readonly #opts: StatusWriterOptions;
  readonly #logger: Logger;

  constructor(kc: KubeConfig, opts: StatusWriterOptions) {
    super(opts);
    this.#client = RawClient.create(kc);
    this.#opts = opts;
    this.#logger = opts.logger.child({ component: 'status-writer' });
  }

  /** Applies `statuses` now (serialized with the background writes). */
  write(statuses: readonly ObjectStatus[]): Promise<StatusWriteResult> {
    return this.run(statuses);
  }

  protected override async writeAll(statuses: readonly ObjectStatus[]): Promise<StatusWriteResult> {
    const result: StatusWriteResult = { written: 0, unchanged: 0, missing: 0, failed: 0, notLeader: false };
    for (const desired of statuses) {
      if (!this.isLeader()) return { ...result, notLeader: true };
      const k = key(desired);
      const wanted = JSON.stringify(desired);
      if (this.confirmed.get(k) === wanted) {
        result.unchanged++;
        continue;
      }
      try {
        const outcome = await this.#writeOne(desired);
        result[outcome]++;
        if (outcome !== 'missing') this.confirmed.set(k, wanted);
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
