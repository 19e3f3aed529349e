// `--summary`: many replies folded into one JSON line, so a test counts outcomes (statuses,
// versions, pods) instead of parsing thousands of lines. Pure over small per-reply facts: the
// clients keep these, not the bodies.

/** What one request came to. */
export interface ReplyFacts {
  /** The HTTP status ("200") or the gRPC code name ("OK"); absent when nothing answered. */
  status?: string;
  /** The client's verdict: HTTP, no reply at all; gRPC, any code but OK. */
  error: boolean;
  /** From an echo reply's body; absent when the answer did not come from an echo server. */
  version?: string;
  pod?: string;
  /** Set for every request that is not an error. */
  durationMs?: number;
}

export interface Summary {
  sent: number;
  byStatus: Record<string, number>;
  byVersion: Record<string, number>;
  byPod: Record<string, number>;
  errors: number;
  /** Latency percentiles over the requests that are not errors; null when there were none. */
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export function summarize(sent: number, replies: readonly ReplyFacts[]): Summary {
  const byStatus: Record<string, number> = {};
  const byVersion: Record<string, number> = {};
  const byPod: Record<string, number> = {};
  const durations: number[] = [];
  let errors = 0;
  for (const reply of replies) {
    if (reply.status !== undefined) byStatus[reply.status] = (byStatus[reply.status] ?? 0) + 1;
    if (reply.version !== undefined) byVersion[reply.version] = (byVersion[reply.version] ?? 0) + 1;
    if (reply.pod !== undefined) byPod[reply.pod] = (byPod[reply.pod] ?? 0) + 1;
    if (reply.error) errors++;
    else if (reply.durationMs !== undefined) durations.push(reply.durationMs);
  }
  durations.sort((a, b) => a - b);
  return {
    sent,
    byStatus,
    byVersion,
    byPod,
    errors,
    p50Ms: percentile(durations, 50),
    p90Ms: percentile(durations, 90),
    p99Ms: percentile(durations, 99),
  };
}

/** Nearest-rank percentile of ascending `sorted`, to 0.1 ms. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return Math.round(sorted[rank - 1]! * 10) / 10;
}

/** The pod and version an echo server put in its reply, if the body is one. */
export function echoIdentity(body: unknown): { pod?: string; version?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const { pod, version } = body as { pod?: unknown; version?: unknown };
  const out: { pod?: string; version?: string } = {};
  if (typeof pod === 'string') out.pod = pod;
  if (typeof version === 'string') out.version = version;
  return out;
}
