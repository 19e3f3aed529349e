// Background reconciliation where only the newest input matters: while a run is in progress,
// newer inputs replace each other and the last one runs next; a run that reports failures is
// retried after a delay unless newer input arrived meanwhile.

export class LatestWins<T> {
  readonly #run: (input: T) => Promise<{ failed: number }>;
  readonly #retryMs: number;
  #pending: T | undefined;
  #draining = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(run: (input: T) => Promise<{ failed: number }>, retryMs: number) {
    this.#run = run;
    this.#retryMs = retryMs;
  }

  offer(input: T): void {
    if (this.#stopped) return;
    this.#pending = input;
    clearTimeout(this.#retryTimer);
    if (!this.#draining) void this.#drain();
  }

  /** Nothing new starts after this (a run in progress finishes). */
  stop(): void {
    this.#stopped = true;
    this.#pending = undefined;
    clearTimeout(this.#retryTimer);
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#pending !== undefined && !this.#stopped) {
        const input = this.#pending;
        this.#pending = undefined;
        const result = await this.#run(input);
        if (result.failed > 0 && this.#pending === undefined && !this.#stopped) {
          this.#retryTimer = setTimeout(() => this.offer(input), this.#retryMs);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
