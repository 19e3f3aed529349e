// An endpoint's load as the default balancer sees it (Finagle's and Linkerd's peak EWMA):
// cost = latency estimate × (requests in flight + 1).
//
// The estimate is a peak-sensitive moving average: a sample above it is taken at once (an
// endpoint that just got slow is avoided at once), a sample below it is blended in with a weight
// that grows with the time since the last sample (time constant 10 s), and between samples the
// estimate relaxes towards zero with the same time constant, so an endpoint that has been
// avoided for a while is tried again and can show it recovered. An endpoint without a sample
// starts at Linkerd's default estimate, and relaxes from there too.
//
// Failures weigh in: a failure (5xx, connect failure, reset, timeout) is recorded as a sample of
// ten times the current estimate (at least the failure's own latency, at most 10 s). Without it
// an endpoint that fails fast would look like the fastest one and attract the most traffic. As a
// peak it is taken at once, so one failure makes the endpoint look 10× slower than it was; a run
// of failures compounds up to the cap, so a broken endpoint is avoided for longer the longer it
// stays broken (a back-off), while the relaxation brings it a probe within tens of seconds.

/** Linkerd's EWMA decay: the time constant of both the blending and the relaxation. */
export const EWMA_DECAY_MS = 10_000;
/** Linkerd's default RTT estimate for an endpoint not measured yet. */
export const DEFAULT_RTT_MS = 30;
export const FAILURE_PENALTY_FACTOR = 10;
export const FAILURE_PENALTY_CAP_MS = 10_000;

export class EndpointLoad {
  inFlight = 0;
  /** When a request last started or finished here, for forgetting idle endpoints. */
  usedAt: number;
  #estimateMs = DEFAULT_RTT_MS;
  #at: number;
  #measured = false;

  constructor(now: number) {
    this.usedAt = now;
    this.#at = now;
  }

  /** The latency estimate at `now`, relaxed towards zero since the last sample. */
  estimateMs(now: number): number {
    const idle = now - this.#at;
    return idle > 0 ? this.#estimateMs * Math.exp(-idle / EWMA_DECAY_MS) : this.#estimateMs;
  }

  cost(now: number): number {
    return this.estimateMs(now) * (this.inFlight + 1);
  }

  observe(latencyMs: number, failed: boolean, now: number): void {
    let sample = Math.max(0, latencyMs);
    if (failed) sample = Math.min(FAILURE_PENALTY_CAP_MS, Math.max(sample, FAILURE_PENALTY_FACTOR * Math.max(this.estimateMs(now), 1)));
    if (!this.#measured || sample > this.#estimateMs) {
      // The first measurement replaces the default guess; a peak is taken at once.
      this.#estimateMs = sample;
    } else {
      const w = Math.exp(-Math.max(0, now - this.#at) / EWMA_DECAY_MS);
      this.#estimateMs = this.#estimateMs * w + sample * (1 - w);
    }
    this.#measured = true;
    this.#at = now;
  }
}
