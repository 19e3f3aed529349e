// The echo app's gRPC client: `say` (unary, repeated, optionally summarized) and `count`
// (one server stream). One channel, so one HTTP/2 connection: spreading calls over replicas
// is the job of an L7 proxy (the waypoint), which is what these calls are for.
import * as grpc from '@grpc/grpc-js';
import type { GrpcCountCommand, GrpcSayCommand } from './echo-args.ts';
import type { CallOutput } from './echo-client.ts';
import { type CountReply, codeName, EchoClient, type SayReply } from './echo-grpc-proto.ts';
import { type PacingClock, runPaced, systemClock } from './echo-pacing.ts';
import { type ReplyFacts, summarize } from './echo-summary.ts';

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // No TXT lookups for a service config: pods resolve through /etc/hosts and have no DNS server.
  'grpc.service_config_disable_resolution': 1,
  // One attempt per call: tests count the retries a proxy makes, not the client's own.
  'grpc.enable_retries': 0,
};

export interface SayResult {
  request: number;
  code: string;
  durationMs: number;
  message?: string;
  pod?: string;
  version?: string;
  details?: string;
}

/** Resolves true when every call ended OK and none was left unsent by the --deadline. */
export async function runGrpcSay(command: GrpcSayCommand, out: CallOutput, clock: PacingClock = systemClock): Promise<boolean> {
  const client = newClient(command.target);
  const replies: ReplyFacts[] = [];
  let failed = 0;
  try {
    const outcome = await runPaced(
      { count: command.count, concurrency: 1, deadlineMs: command.deadlineMs },
      async (index, deadline) => {
        const result = await sayOnce(client, command, index + 1, deadline);
        if (result.code !== 'OK') failed++;
        if (!command.summary) return out.line(result);
        const facts: ReplyFacts = { status: result.code, error: result.code !== 'OK' };
        if (result.pod !== undefined) facts.pod = result.pod;
        if (result.version !== undefined) facts.version = result.version;
        if (!facts.error) facts.durationMs = result.durationMs;
        replies.push(facts);
      },
      clock,
    );
    if (outcome.deadlineExceeded) out.warn(`the --deadline of ${command.deadlineMs} ms passed after ${outcome.sent} of ${command.count} calls had started`);
    if (command.summary) {
      const { sent, byStatus, ...rest } = summarize(outcome.sent, replies);
      out.line({ sent, byCode: byStatus, ...rest });
    }
    return outcome.sent === command.count && failed === 0;
  } finally {
    client.close();
  }
}

function sayOnce(client: grpc.Client, command: GrpcSayCommand, request: number, deadline: AbortSignal): Promise<SayResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
  return new Promise((resolve) => {
    const say = (client as unknown as Record<string, UnaryMethod>).Say!;
    const call = say.call(client, { message: command.message }, metadata(command.headers), { deadline: Date.now() + command.timeoutMs }, (err, reply) => {
      deadline.removeEventListener('abort', cancel);
      if (err) return resolve({ request, code: codeName(err.code), durationMs: elapsed(), details: err.details });
      resolve({ request, code: 'OK', durationMs: elapsed(), message: reply!.message, pod: reply!.pod, version: reply!.version });
    });
    const cancel = (): void => call.cancel();
    deadline.addEventListener('abort', cancel, { once: true });
  });
}

type UnaryMethod = (
  request: { message: string },
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, reply?: SayReply) => void,
) => grpc.ClientUnaryCall;

/** Prints each reply, then `{"code":…,"received":n}`; resolves true when the stream ended OK with all n. */
export function runGrpcCount(command: GrpcCountCommand, out: CallOutput): Promise<boolean> {
  const client = newClient(command.target);
  return new Promise<boolean>((resolve) => {
    let received = 0;
    const count = (client as unknown as Record<string, StreamMethod>).Count!;
    const call = count.call(client, { n: command.n }, metadata(command.headers), { deadline: Date.now() + command.timeoutMs });
    call.on('data', (reply: CountReply) => {
      received++;
      out.line({ i: reply.i, pod: reply.pod });
    });
    // A non-OK status also arrives as 'status'; without a listener, 'error' would throw.
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => {
      // grpc-js emits 'status' right after ending the readable side; replies still queued in the
      // stream are delivered on the next ticks, before setImmediate runs.
      setImmediate(() => {
        const end: Record<string, unknown> = { code: codeName(status.code), received };
        if (status.code !== grpc.status.OK) end.details = status.details;
        out.line(end);
        resolve(status.code === grpc.status.OK && received === command.n);
      });
    });
  }).finally(() => client.close());
}

type StreamMethod = (request: { n: number }, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<CountReply>;

function newClient(target: string): grpc.Client {
  return new EchoClient(`dns:${target}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

function metadata(headers: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  // grpc-js insists on binary values for "-bin" keys.
  for (const [name, value] of Object.entries(headers)) md.add(name, name.endsWith('-bin') ? Buffer.from(value) : value);
  return md;
}
