// Whether, and after how long, to try a request again once a try has failed. Pure but for the
// budget withdrawal: the caller does the I/O, sleeps the delay (on the request's deadline
// signal) and, on a refusal, answers with this try's own failure (its response, or the status
// its error maps to), so that a refused retry never changes what the client sees.
//
// Order of decisions (each one explained where it is taken):
//   1. a response the policy does not retry → done ('success', or 'not-retryable' for a 5xx);
//      an error the policy does not retry → 'not-retryable';
//   2. no retries left under the policy → 'attempts-exhausted';
//   3. the request may have been processed and is not idempotent, or its body cannot be sent
//      again → 'unsafe';
//   4. the backoff would end past the request deadline → 'deadline';
//   5. the service's retry budget is spent → 'budget-exhausted' (asked last: asking consumes).
import type { Retry } from '@ambient/api';

/**
 * How a try failed before any response came back, in Envoy's `retry_on` vocabulary:
 * - `connect-failure`: no connection (TCP, TLS, HBONE CONNECT refused or failed): nothing sent;
 * - `refused-stream`: HTTP/2 REFUSED_STREAM, which promises the server did not process it
 *   (RFC 9113 §8.7), whatever was sent;
 * - `reset`: the stream or connection ended before a response;
 * - `timeout`: the try's own timeout (`timeouts.backendRequest`) fired.
 */
export type TryFailure = 'connect-failure' | 'refused-stream' | 'reset' | 'timeout';

export type TryOutcome =
  | { kind: 'response'; status: number }
  /** requestSent: any byte of the request (headers included) was written upstream. */
  | { kind: 'error'; code: TryFailure; requestSent: boolean };

export type RetryRefusal = 'success' | 'not-retryable' | 'attempts-exhausted' | 'budget-exhausted' | 'unsafe' | 'deadline';

export type RetryDecision = Readonly<{ retry: true; delayMs: number } | { retry: false; reason: RetryRefusal }>;

export interface RetryInput {
  /** Upper-case HTTP method. */
  method: string;
  /** The try that just failed: 1 for the first. */
  attempt: number;
  /** The route rule's retry stanza; undefined: Istio's default policy for mesh traffic. */
  retry: Retry | undefined;
  outcome: TryOutcome;
  /** The request body can be sent again: none, or buffered whole (a streamed body cannot). */
  replayable: boolean;
  /** The destination service's budget (a RetryBudget). */
  budget: { tryWithdraw(): boolean };
  /** Milliseconds left before the request deadline (`Deadline.remainingMs()`); Infinity without one. */
  remainingMs: number;
  /** [0, 1); injected for tests. */
  random?: () => number;
}

/**
 * Istio's default for mesh traffic without a retry policy (Envoy's route retry_policy as
 * istiod writes it): 2 retries on connect-failure, refused-stream, unavailable, cancelled and
 * retriable-status-codes [503]. `unavailable` and `cancelled` are gRPC statuses, and a gRPC
 * call is a POST that reached the server by the time a status comes back, so the safety rule
 * below would refuse them anyway: they are not modelled.
 */
export const istioDefaultRetry: Readonly<Required<Retry>> = Object.freeze({ attempts: 2, backoffMs: 0, codes: Object.freeze([503]) as number[] });

/** Envoy's default base interval when none is set. */
export const defaultBackoffBaseMs = 25;
/** Envoy caps the backoff at 10 × the base interval by default. */
const backoffCapFactor = 10;

/** RFC 9110 §9.2.2: the safe methods plus PUT and DELETE. */
export const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function retryDecision(input: RetryInput): RetryDecision {
  const { outcome } = input;
  const explicit = input.retry !== undefined;
  const policy = input.retry ?? istioDefaultRetry;

  if (outcome.kind === 'response') {
    // A status the policy lists is retried, 4xx included (a user may list 429); anything else
    // is the answer.
    if (!policy.codes?.includes(outcome.status)) return refuse(outcome.status >= 500 ? 'not-retryable' : 'success');
  } else if (!retriesOn(outcome.code, explicit)) {
    return refuse('not-retryable');
  }

  // Gateway API: attempts counts retries, and an explicit 0 disables them. Absent reads as 0
  // (proto3 cannot tell the two apart), which the spec allows for "unspecified" too.
  const maxRetries = policy.attempts ?? 0;
  if (input.attempt > maxRetries) return refuse('attempts-exhausted');

  const sent = outcome.kind === 'response' || outcome.requestSent;
  // Whatever the method, a body that was streamed upstream and not kept cannot be sent again.
  if (sent && !input.replayable) return refuse('unsafe');
  // A request that may have reached the application is repeated only if doing so twice means
  // the same as once. REFUSED_STREAM promises it was not processed; nothing sent is nothing seen.
  const maybeProcessed = sent && !(outcome.kind === 'error' && outcome.code === 'refused-stream');
  if (maybeProcessed && !idempotentMethods.has(input.method)) return refuse('unsafe');

  const delayMs = backoffDelayMs(input.attempt, policy.backoffMs || defaultBackoffBaseMs, input.random ?? Math.random);
  // The request timeout covers the retries and the waits between them (GEP-1742): a retry that
  // could not start before it fires would only turn this failure into a timeout.
  if (delayMs >= input.remainingMs) return refuse('deadline');

  // Last, because a granted withdrawal is spent: the budget counts only retries actually made.
  if (!input.budget.tryWithdraw()) return refuse('budget-exhausted');
  return { retry: true, delayMs };
}

/**
 * Which failures a policy retries. Istio's default retries only the failures that promise
 * nothing was processed. A route's retry stanza also retries resets and try timeouts: GEP-1731
 * has implementations retry connection errors and schedule the next try when a backendRequest
 * timeout fires; the safety rule limits those (the request may have been processed) to
 * idempotent methods.
 */
function retriesOn(code: TryFailure, explicit: boolean): boolean {
  switch (code) {
    case 'connect-failure':
    case 'refused-stream':
      return true;
    case 'reset':
    case 'timeout':
      return explicit;
  }
}

/**
 * Envoy's fully jittered exponential backoff: the delay before retry n is uniform in
 * [0, (2^n − 1) × base), capped at 10 × base. Full jitter spreads the retries of clients that
 * failed together, so they do not come back together.
 */
export function backoffDelayMs(retry: number, baseMs: number, random: () => number): number {
  const ceiling = Math.min((2 ** Math.min(retry, 30) - 1) * baseMs, backoffCapFactor * baseMs);
  return Math.floor(random() * ceiling);
}

// One frozen object per refusal: the common outcome (a success) allocates nothing.
const refusals = Object.fromEntries(
  (['success', 'not-retryable', 'attempts-exhausted', 'budget-exhausted', 'unsafe', 'deadline'] as const).map((r) => [
    r,
    Object.freeze({ retry: false, reason: r }),
  ]),
) as Record<RetryRefusal, RetryDecision>;

function refuse(reason: RetryRefusal): RetryDecision {
  return refusals[reason];
}
