// A request's time limits, as Gateway API's HTTPRouteTimeouts (GEP-1742) define them:
// `timeouts.request` bounds the whole request, retries and the waits between them included;
// `timeouts.backendRequest` bounds each try. One Deadline per request, made when it arrives: it
// hands each try an AbortSignal that fires at whichever limit comes first, says which one did,
// and owns at most two timers (the request's, the current try's), cleared by endTry and close.
// Timers come injected, so tests run on virtual time.
import { type Clock, MeshError, type Timeouts } from '@ambient/api';

/** Which limit fired: `timeouts.request` or `timeouts.backendRequest`. */
export type TimeoutKind = 'request' | 'backend-request';

export type TimeoutErrorCode = 'ERR_REQUEST_TIMEOUT' | 'ERR_BACKEND_REQUEST_TIMEOUT';

/** The abort reason of a timed-out signal. */
export class TimeoutError extends MeshError<TimeoutErrorCode> {
  readonly kind: TimeoutKind;
  readonly timeoutMs: number;
  /** What the client gets, as Envoy answers a route or per-try timeout: 504, response flag UT. */
  readonly status = 504;
  readonly responseFlags = 'UT';

  constructor(kind: TimeoutKind, timeoutMs: number) {
    super(
      kind === 'request' ? 'ERR_REQUEST_TIMEOUT' : 'ERR_BACKEND_REQUEST_TIMEOUT',
      kind === 'request'
        ? `request timeout (timeouts.request ${timeoutMs} ms) reached`
        : `backend request timeout (timeouts.backendRequest ${timeoutMs} ms) reached`,
    );
    this.kind = kind;
    this.timeoutMs = timeoutMs;
  }
}

/** Node fires a longer setTimeout at once (DESIGN.md): longer limits are reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadline {
  readonly #clock: Clock;
  readonly #requestMs: number;
  readonly #backendRequestMs: number;
  /** When the request times out, in clock time; Infinity without `timeouts.request`. */
  readonly #requestAt: number;
  readonly #request = new AbortController();
  #requestTimer: unknown;
  #try: AbortController | undefined;
  #tryAt = Number.POSITIVE_INFINITY;
  #tryTimer: unknown;
  #tryTimedOut = false;
  #closed = false;

  /** `timeouts` from the matched route rule; 0/absent limits are none. Start the clock when the request arrives. */
  constructor(timeouts: Timeouts | undefined, clock: Clock) {
    this.#clock = clock;
    this.#requestMs = positive(timeouts?.requestMs);
    this.#backendRequestMs = positive(timeouts?.backendRequestMs);
    this.#requestAt = this.#requestMs > 0 ? clock.now() + this.#requestMs : Number.POSITIVE_INFINITY;
    if (this.#requestMs > 0) this.#armRequest();
  }

  /** Fires at the request deadline: abort whatever spans the whole request with it (a backoff wait). */
  get signal(): AbortSignal {
    return this.#request.signal;
  }

  /**
   * The signal for a new try (ending the previous one): it fires at min(now + backendRequest,
   * the request deadline), its reason a TimeoutError. Once the request has timed out or the
   * deadline is closed, the signal comes already aborted.
   */
  startTry(): AbortSignal {
    this.endTry();
    const controller = new AbortController();
    if (this.#request.signal.aborted) {
      controller.abort(this.#request.signal.reason);
      return controller.signal;
    }
    if (this.#closed) {
      controller.abort();
      return controller.signal;
    }
    this.#try = controller;
    this.#tryTimedOut = false;
    if (this.#backendRequestMs > 0) {
      const tryAt = this.#clock.now() + this.#backendRequestMs;
      // At a tie the request deadline is what ran out: no try timer, the request's will fire.
      if (tryAt < this.#requestAt) {
        this.#tryAt = tryAt;
        this.#armTry();
      }
    }
    return controller.signal;
  }

  /** The try is over (its response received in full, or failed): its timer goes. */
  endTry(): void {
    if (this.#tryTimer !== undefined) this.#clock.clearTimeout(this.#tryTimer);
    this.#tryTimer = undefined;
    this.#try = undefined;
  }

  /** Milliseconds left before the request deadline (0 once passed); Infinity without one. */
  remainingMs(): number {
    return Math.max(0, this.#requestAt - this.#clock.now());
  }

  /** Which limit fired: the request's (for good), else the current or last try's; undefined if none. */
  timedOut(): TimeoutKind | undefined {
    if (this.#request.signal.aborted && this.#request.signal.reason instanceof TimeoutError) return 'request';
    return this.#tryTimedOut ? 'backend-request' : undefined;
  }

  /** The request is over: every timer goes; later tries get an aborted signal. */
  close(): void {
    this.endTry();
    if (this.#requestTimer !== undefined) this.#clock.clearTimeout(this.#requestTimer);
    this.#requestTimer = undefined;
    this.#closed = true;
  }

  #armRequest(): void {
    const left = this.#requestAt - this.#clock.now();
    this.#requestTimer = this.#clock.setTimeout(
      () => {
        this.#requestTimer = undefined;
        if (this.#clock.now() < this.#requestAt) return this.#armRequest();
        const reason = new TimeoutError('request', this.#requestMs);
        const current = this.#try;
        this.endTry();
        current?.abort(reason);
        this.#request.abort(reason);
      },
      Math.min(left, MAX_TIMER_MS),
    );
  }

  #armTry(): void {
    const controller = this.#try!;
    const left = this.#tryAt - this.#clock.now();
    this.#tryTimer = this.#clock.setTimeout(
      () => {
        this.#tryTimer = undefined;
        if (this.#clock.now() < this.#tryAt) return this.#armTry();
        this.#tryTimedOut = true;
        controller.abort(new TimeoutError('backend-request', this.#backendRequestMs));
      },
      Math.min(left, MAX_TIMER_MS),
    );
  }
}

function positive(ms: number | undefined): number {
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : 0;
}
