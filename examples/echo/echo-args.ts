// Command-line parsing for the echo app: a pure function so every rule is table-testable.
import { parseArgs } from 'node:util';

export interface ServeCommand {
  kind: 'serve';
  port: number;
  tcpPort?: number;
  grpcPort?: number;
  host: string;
  /** Added to every echoed answer: a slow pod among fast ones. */
  delayMs?: number;
  /** Every echoed answer gets this status instead of 200: a broken pod among healthy ones. */
  failStatus?: number;
}
export interface CallCommand {
  kind: 'call';
  url: URL;
  method: string;
  data?: string;
  count: number;
  headers: Record<string, string>;
  timeoutMs: number;
  deadlineMs: number;
  /** Absent: unpaced, each worker starts its next request as soon as the previous answered. */
  ratePerSecond?: number;
  concurrency: number;
  summary: boolean;
}
export interface GrpcSayCommand {
  kind: 'grpc-say';
  /** `host:port` (`[v6]:port`), handed to grpc-js as `dns:<target>`. */
  target: string;
  message: string;
  count: number;
  headers: Record<string, string>;
  timeoutMs: number;
  deadlineMs: number;
  summary: boolean;
}
export interface GrpcCountCommand {
  kind: 'grpc-count';
  target: string;
  n: number;
  headers: Record<string, string>;
  /** Bounds the whole stream. */
  timeoutMs: number;
}
export type EchoCommand = ServeCommand | CallCommand | GrpcSayCommand | GrpcCountCommand;

export const MAX_COUNT = 10_000;
export const MAX_CONCURRENCY = 64;
export const MAX_RATE_PER_SECOND = 10_000;
/** The server refuses more too: a Count stream is a test fixture, not a load generator. */
export const MAX_STREAM_REPLIES = 1000;
export const MAX_DATA_BYTES = 1 << 20;
export const MAX_MESSAGE_BYTES = 64 << 10;
const MAX_TIMEOUT_MS = 600_000;
const MAX_DEADLINE_MS = 3_600_000;
const DEFAULT_TIMEOUT_MS = '5000';
const DEFAULT_DEADLINE_MS = '120000';

export const USAGE = `usage:
  ambient-echo serve [--port 8080] [--tcp-port N] [--grpc-port N] [--host 0.0.0.0]
                    [--delay ms added to every echo] [--fail-status code for every echo]
  ambient-echo call <url> [--method GET] [--data <body>] [--header name:value]...
                    [--count N (1..${MAX_COUNT}, default 1)] [--concurrency C (1..${MAX_CONCURRENCY}, default 1)]
                    [--rate R per second (default unpaced)] [--timeout ms per request (default 5000)]
                    [--deadline ms for the whole run (default 120000)] [--summary]
  ambient-echo grpc <host:port> say <message> [--count N] [--header name:value]... [--timeout ms] [--deadline ms] [--summary]
  ambient-echo grpc <host:port> count <n (0..${MAX_STREAM_REPLIES})> [--header name:value]... [--timeout ms for the stream]`;

export class UsageError extends Error {
  readonly code = 'ERR_ECHO_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseEchoArgs(argv: readonly string[]): EchoCommand {
  const [command, ...rest] = argv;
  if (command === 'serve') return parseServe(rest);
  if (command === 'call') return parseCall(rest);
  if (command === 'grpc') return parseGrpc(rest);
  throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}, expected serve, call or grpc`);
}

function parseServe(args: string[]): ServeCommand {
  const { values } = parse(
    args,
    {
      port: { type: 'string', default: '8080' },
      'tcp-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      host: { type: 'string', default: '0.0.0.0' },
      delay: { type: 'string' },
      'fail-status': { type: 'string' },
    },
    false,
  );
  const command: ServeCommand = { kind: 'serve', port: integer('--port', values.port as string, 0, 65535), host: values.host as string };
  if (values['tcp-port'] !== undefined) command.tcpPort = integer('--tcp-port', values['tcp-port'] as string, 0, 65535);
  if (values['grpc-port'] !== undefined) command.grpcPort = integer('--grpc-port', values['grpc-port'] as string, 0, 65535);
  if (values.delay !== undefined) command.delayMs = integer('--delay', values.delay as string, 0, 60_000);
  if (values['fail-status'] !== undefined) command.failStatus = integer('--fail-status', values['fail-status'] as string, 200, 599);
  return command;
}

function parseCall(args: string[]): CallCommand {
  const { values, positionals } = parse(
    args,
    {
      method: { type: 'string', default: 'GET' },
      data: { type: 'string' },
      count: { type: 'string', default: '1' },
      header: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string', default: DEFAULT_TIMEOUT_MS },
      deadline: { type: 'string', default: DEFAULT_DEADLINE_MS },
      rate: { type: 'string' },
      concurrency: { type: 'string', default: '1' },
      summary: { type: 'boolean', default: false },
    },
    true,
  );
  if (positionals.length !== 1) throw new UsageError(`call needs exactly one url, got ${positionals.length}`);
  let url: URL;
  try {
    url = new URL(positionals[0]!);
  } catch {
    throw new UsageError(`not a url: ${positionals[0]}`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`only http urls are supported, got ${url.href}`);
  const command: CallCommand = {
    kind: 'call',
    url,
    method: method(values.method as string),
    headers: headers(values.header as string[]),
    count: integer('--count', values.count as string, 1, MAX_COUNT),
    timeoutMs: integer('--timeout', values.timeout as string, 1, MAX_TIMEOUT_MS),
    deadlineMs: integer('--deadline', values.deadline as string, 1, MAX_DEADLINE_MS),
    concurrency: integer('--concurrency', values.concurrency as string, 1, MAX_CONCURRENCY),
    summary: values.summary as boolean,
  };
  if (values.data !== undefined) {
    const data = values.data as string;
    if (Buffer.byteLength(data) > MAX_DATA_BYTES) throw new UsageError(`--data must be at most ${MAX_DATA_BYTES} bytes, got ${Buffer.byteLength(data)}`);
    command.data = data;
  }
  if (values.rate !== undefined) command.ratePerSecond = rate(values.rate as string);
  return command;
}

function parseGrpc(args: string[]): GrpcSayCommand | GrpcCountCommand {
  const { values, positionals } = parse(
    args,
    {
      count: { type: 'string' },
      header: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string', default: DEFAULT_TIMEOUT_MS },
      deadline: { type: 'string' },
      summary: { type: 'boolean' },
    },
    true,
  );
  const [target, method, argument, ...extra] = positionals;
  if (target === undefined || method === undefined) throw new UsageError('grpc needs <host:port> and a method: say <message> or count <n>');
  if (method !== 'say' && method !== 'count') throw new UsageError(`unknown grpc method ${JSON.stringify(method)}, expected say or count`);
  if (argument === undefined) throw new UsageError(method === 'say' ? 'grpc say needs a message' : 'grpc count needs n');
  if (extra.length > 0) throw new UsageError(`unexpected arguments after ${method} ${JSON.stringify(argument)}: ${extra.join(' ')}`);
  const common = {
    target: grpcTarget(target),
    headers: headers(values.header as string[]),
    timeoutMs: integer('--timeout', values.timeout as string, 1, MAX_TIMEOUT_MS),
  };
  if (method === 'count') {
    for (const flag of ['count', 'deadline', 'summary'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to grpc say, not to count (one stream)`);
    }
    return { kind: 'grpc-count', ...common, n: integer('count <n>', argument, 0, MAX_STREAM_REPLIES) };
  }
  if (Buffer.byteLength(argument) > MAX_MESSAGE_BYTES) throw new UsageError(`the message must be at most ${MAX_MESSAGE_BYTES} bytes`);
  return {
    kind: 'grpc-say',
    ...common,
    message: argument,
    count: integer('--count', (values.count as string | undefined) ?? '1', 1, MAX_COUNT),
    deadlineMs: integer('--deadline', (values.deadline as string | undefined) ?? DEFAULT_DEADLINE_MS, 1, MAX_DEADLINE_MS),
    summary: (values.summary as boolean | undefined) ?? false,
  };
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse(args: string[], options: Options, allowPositionals: boolean): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.toLowerCase());
  }
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

function rate(text: string): number {
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value > 0 && value <= MAX_RATE_PER_SECOND))
    throw new UsageError(`--rate must be a number above 0 and at most ${MAX_RATE_PER_SECOND}, got ${JSON.stringify(text)}`);
  return value;
}

function method(text: string): string {
  const upper = text.toUpperCase();
  // CONNECT turns the connection into a tunnel, which is not a request this client can echo.
  if (!/^[A-Z]{1,20}$/.test(upper) || upper === 'CONNECT') throw new UsageError(`--method must be a method name like GET or POST, got ${JSON.stringify(text)}`);
  return upper;
}

function headers(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const header of values) {
    const colon = header.indexOf(':');
    const name = header.slice(0, colon).trim().toLowerCase();
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new UsageError(`bad --header ${JSON.stringify(header)}, expected name:value`);
    out[name] = header.slice(colon + 1).trim();
  }
  return out;
}

function grpcTarget(text: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`grpc target must be host:port, got ${JSON.stringify(text)}`);
  integer('the grpc port', match[2]!, 1, 65535);
  return text;
}
