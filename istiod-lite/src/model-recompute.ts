// Recomputes the mesh model from the informer caches after Kubernetes changes: after a quiet
// period, at most every 500 ms under constant churn; the first change of a burst gives the
// push-latency start time. Each model goes to the discovery server (MeshState), the
// invalid-objects gauge and the leader-only work.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import { LatestWins } from '@ambient/api/kube';
import type { MeshSources } from './kube/mesh-sources.ts';
import type { LeaderWork } from './leader-work.ts';
import type { MeshState } from './mesh-state.ts';
import { recordInvalidObjects, type IstiodMetrics } from './metrics.ts';

export interface ModelRecomputeOptions {
  sources: Pick<MeshSources, 'snapshot' | 'onChange'>;
  state: Pick<MeshState, 'update'>;
  metrics: IstiodMetrics;
  leader: Pick<LeaderWork, 'update'>;
  logger: Logger;
  /** Quiet period after a change. Default 20 ms. */
  debounceMs?: number;
  clock?: Clock;
}

/** Under constant churn the model is still recomputed this often. */
const MAX_DELAY_MS = 500;

export class ModelRecompute {
  readonly #opts: ModelRecomputeOptions;
  readonly #loop: LatestWins<number>;
  #unsubscribe: () => void = () => {};

  constructor(opts: ModelRecomputeOptions) {
    this.#opts = opts;
    // The input is when the burst's first change was seen: older wins when offers fold.
    this.#loop = new LatestWins<number>((seenAt) => this.recompute(seenAt), {
      debounceMs: opts.debounceMs ?? 20,
      maxDelayMs: MAX_DELAY_MS,
      retryMs: MAX_DELAY_MS,
      coalesce: (first) => first,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  }

  /** Recomputes after every change from now on. */
  start(): void {
    this.#unsubscribe = this.#opts.sources.onChange((_kinds, seenAt) => this.#loop.offer(seenAt));
  }

  /** One recomputation now, from the current caches; `seenAt` starts the push-latency clock. */
  recompute(seenAt = performance.now()): void {
    const { sources, state, metrics, leader, logger } = this.#opts;
    try {
      const model = state.update(sources.snapshot(), seenAt);
      recordInvalidObjects(metrics, model.statuses);
      leader.update(model);
    } catch (err) {
      // The model is pure and total by design; a throw here is a bug: keep the last model.
      logger.error({ err }, 'model computation failed; keeping the last good model');
    }
  }

  async stop(): Promise<void> {
    this.#unsubscribe();
    await this.#loop.stop();
  }
}
