// The echo app's HTTP client: paced, bounded calls, one JSON line per response or one summary.
import http from 'node:http';
import type { CallCommand } from './echo-args.ts';
import { type PacingClock, runPaced, systemClock } from './echo-pacing.ts';
import { echoIdentity, type ReplyFacts, summarize } from './echo-summary.ts';

// Bodies beyond this are truncated: the client prints them on one line and must stay bounded.
const MAX_BODY_BYTES = 1 << 20;
// Distinct error messages reported on stderr in --summary mode, where no per-request line says them.
const MAX_ERROR_SAMPLES = 5;

export interface CallResult {
  request: number;
  status?: number;
  statusMessage?: string;
  /** Response headers (a proxy's header modifiers, a redirect's location, x-request-id). */
  headers?: http.IncomingHttpHeaders;
  durationMs?: number;
  body?: unknown;
  error?: string;
}

export interface CallOutput {
  /** stdout: a JSON value per line. */
  line(value: unknown): void;
  /** stderr: a diagnostic. */
  warn(text: string): void;
}

/**
 * Makes the calls and prints them (or their summary); resolves true when every request got an
 * answer, whatever its status: judging statuses is the caller's business (a test of a 503
 * fault or a 403 policy expects them), a missing answer never is.
 */
export async function runCall(command: CallCommand, out: CallOutput, clock: PacingClock = systemClock): Promise<boolean> {
  const replies: ReplyFacts[] = [];
  const errorSamples = new Map<string, number>();
  let failed = 0;
  const outcome = await runPaced(
    command,
    async (index, deadline) => {
      const result = await callOnce(command, index + 1, deadline);
      if (result.error !== undefined) failed++;
      if (!command.summary) return out.line(result);
      replies.push(replyFacts(result));
      if (result.error !== undefined && (errorSamples.size < MAX_ERROR_SAMPLES || errorSamples.has(result.error))) {
        errorSamples.set(result.error, (errorSamples.get(result.error) ?? 0) + 1);
      }
    },
    clock,
  );
  if (outcome.deadlineExceeded) out.warn(`the --deadline of ${command.deadlineMs} ms passed after ${outcome.sent} of ${command.count} requests had started`);
  for (const [error, n] of errorSamples) out.warn(`${n}x ${error}`);
  if (command.summary) out.line(summarize(outcome.sent, replies));
  return outcome.sent === command.count && failed === 0;
}

/** A response cut short still counts under its status, and as an error: it did not all arrive. */
export function replyFacts(result: CallResult): ReplyFacts {
  const facts: ReplyFacts = { error: result.error !== undefined, ...echoIdentity(result.body) };
  if (result.status !== undefined) facts.status = String(result.status);
  if (!facts.error && result.durationMs !== undefined) facts.durationMs = result.durationMs;
  return facts;
}

function callOnce(command: CallCommand, request: number, deadline: AbortSignal): Promise<CallResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...command.headers };
    const body = command.data === undefined ? undefined : Buffer.from(command.data);
    if (body !== undefined) headers['content-length'] = String(body.length);
    const req = http.request(
      command.url,
      {
        method: command.method,
        headers,
        // A new connection per call: an L4 mesh balances connections, so repeated calls spread
        // across replicas only when each one opens its own.
        agent: false,
        signal: AbortSignal.any([AbortSignal.timeout(command.timeoutMs), deadline]),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_BODY_BYTES) chunks.push(chunk.subarray(0, MAX_BODY_BYTES - size));
          size += chunk.length;
        });
        res.on('end', () =>
          resolve({
            request,
            status: res.statusCode,
            statusMessage: res.statusMessage,
            headers: res.headers,
            durationMs: Math.round((performance.now() - started) * 10) / 10,
            body: decode(Buffer.concat(chunks)),
          }),
        );
        res.on('error', (err) => resolve({ request, status: res.statusCode, error: describe(err, command, deadline) }));
      },
    );
    req.on('error', (err) => resolve({ request, error: describe(err, command, deadline) }));
    req.end(body);
  });
}

function decode(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text.trimEnd();
  }
}

function describe(err: Error, command: CallCommand, deadline: AbortSignal): string {
  if (deadline.aborted) return `the --deadline of ${command.deadlineMs} ms passed before ${command.url.href} answered`;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return `no answer from ${command.url.href} within ${command.timeoutMs} ms`;
  return `${err.message} (${command.url.href})`;
}
