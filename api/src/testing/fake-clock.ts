// Virtual time for the SecretManager: `now` and `timers` share one clock that moves only when
// the test calls advance(), firing due timers in order.
import type { Timers } from '../index.ts';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock {
  #now: number;
  #nextId = 1;
  #pending = new Map<number, Pending>();

  constructor(start = Date.now()) {
    this.#now = start;
  }

  readonly now = (): number => this.#now;

  readonly timers: Timers = {
    setTimeout: (fn, ms) => {
      const id = this.#nextId++;
      this.#pending.set(id, { id, at: this.#now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (handle) => {
      this.#pending.delete(handle as number);
    },
  };

  /** Moves time forward by `ms`, running every timer that falls due on the way, earliest first. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      const due = [...this.#pending.values()].filter((p) => p.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#pending.delete(due.id);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
  }

  /** Delays of the timers still pending, from now. */
  pendingDelays(): number[] {
    return [...this.#pending.values()].map((p) => p.at - this.#now).sort((a, b) => a - b);
  }
}
