// Bounds the response bytes written to proxies but not yet handed to their connections. Each
// stream already has at most one response per type awaiting its ACK, but when many proxies
// connect at once (istiod-lite restarted, a node pool scaled up) each is owed the whole mesh at
// the same moment: 100 ztunnels × 11 000 resources queued ~400 MiB of responses in one go, and the
// process kept most of that memory after they were sent. Past the budget a push waits in FIFO
// order until earlier writes complete; one push is always allowed when nothing is in flight, so
// a response larger than the budget is never stuck, and the discovery server stops counting a
// write that has not completed in 5 s, so a proxy that stops reading holds no one else's pushes.
// Waiting costs no correctness: a waiting stream is sent its delta when its turn comes, computed
// from the model of that moment.
/** Default budget: about eight full ztunnel views at 10k pods and 1k services. */
export const defaultMaxPushBytesInFlight = 32 * 1024 * 1024;

export interface PushBudgetStats {
  bytesInFlight: number;
  peakBytesInFlight: number;
  waiting: number;
}

export class PushBudget<K> {
  readonly maxBytes: number;
  #inFlight = 0;
  #peak = 0;
  /** Keys waiting for their turn, in arrival order (a Set keeps one entry per key). */
  readonly #waiting = new Set<K>();

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Whether a push may be written now; if not, `key` waits (once) for `drain`. */
  admit(key: K): boolean {
    if (this.#inFlight > 0 && (this.#inFlight >= this.maxBytes || this.#waiting.size > 0)) {
      this.#waiting.add(key);
      return false;
    }
    this.#waiting.delete(key);
    return true;
  }

  /** A push of `bytes` was written; returns the release to call once the write completed (idempotent). */
  started(bytes: number): () => void {
    this.#inFlight += bytes;
    if (this.#inFlight > this.#peak) this.#peak = this.#inFlight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight -= bytes;
    };
  }

  /** Takes the waiting keys that may go now, oldest first; `send` pushes for each without asking `admit` again. */
  drain(send: (key: K) => void): void {
    for (const key of this.#waiting) {
      if (this.#inFlight > 0 && this.#inFlight >= this.maxBytes) return;
      this.#waiting.delete(key);
      send(key);
    }
  }

  /** Forgets a key that will never push (its stream closed). */
  forget(key: K): void {
    this.#waiting.delete(key);
  }

  stats(): PushBudgetStats {
    return { bytesInFlight: this.#inFlight, peakBytesInFlight: this.#peak, waiting: this.#waiting.size };
  }
}
