// What the status writer and the waypoint controller share: writes to the API that happen in
// the background while this replica leads, newest desired state first (older ones are
// superseded), one at a time (an older model never overwrites a newer one), retried after a
// failure, with a cache of the body last confirmed per object so an unchanged model costs no
// API call.
import { LatestWins } from '@ambient/api/kube';

export interface LeaderWritesOptions {
  /** Writes happen only while this returns true (e.g. `() => elector.isLeader`). Default: until stop(). */
  isLeader?: () => boolean;
  /** Delay before a failed background run is retried. Default 2 s. */
  retryMs?: number;
}

export abstract class LeaderWrites<Input, Result extends { failed: number }> {
  /** The body last confirmed on each object, by object key. */
  protected readonly confirmed = new Map<string, string>();
  readonly #leader: () => boolean;
  readonly #background: LatestWins<Input>;
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(opts: LeaderWritesOptions) {
    this.#leader = opts.isLeader ?? (() => true);
    this.#background = new LatestWins((input) => this.run(input), { retryMs: opts.retryMs ?? 2_000 });
  }

  /** One pass over `input`: writes what differs from `confirmed`, while isLeader() holds. */
  protected abstract writeAll(input: Input): Promise<Result>;

  protected isLeader(): boolean {
    return !this.#stopped && this.#leader();
  }

  /** Fire and forget: writes in the background; while a pass runs only the newest input is kept. */
  update(input: Input): void {
    this.#background.offer(input);
  }

  /** Writes now, after any pass in progress, so an older model never overwrites a newer one. */
  run(input: Input): Promise<Result> {
    const run = this.#queue.then(() => this.writeAll(input));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** No writes after this (in-flight requests finish). */
  stop(): void {
    this.#stopped = true;
    void this.#background.stop();
  }

  /** Forget what was confirmed (call on becoming leader: another replica may have written since). */
  reset(): void {
    this.confirmed.clear();
  }
}
