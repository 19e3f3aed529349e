// Command-line parsing for the echo app: a pure function so every rule is table-testable.
import { parseArgs } from 'node:util';

export interface ServeCommand {
  kind: 'serve';
  port: number;
  tcpPort?: number;
  host: string;
}
export interface CallCommand {
  kind: 'call';
  url: URL;
  count: number;
  headers: Record<string, string>;
  timeoutMs: number;
}
export type EchoCommand = ServeCommand | CallCommand;

export const MAX_COUNT = 1000;
const MAX_TIMEOUT_MS = 600_000;

export const USAGE = `usage:
  ambient-echo serve [--port 8080] [--tcp-port N] [--host 0.0.0.0]
  ambient-echo call <url> [--count N (1..${MAX_COUNT})] [--header name:value]... [--timeout ms (default 5000)]`;

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
  throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}, expected serve or call`);
}

function parseServe(args: string[]): ServeCommand {
  const { values } = parse(
    args,
    {
      port: { type: 'string', default: '8080' },
      'tcp-port': { type: 'string' },
      host: { type: 'string', default: '0.0.0.0' },
    },
    false,
  );
  const command: ServeCommand = { kind: 'serve', port: integer('--port', values.port as string, 0, 65535), host: values.host as string };
  if (values['tcp-port'] !== undefined) command.tcpPort = integer('--tcp-port', values['tcp-port'] as string, 0, 65535);
  return command;
}

function parseCall(args: string[]): CallCommand {
  const { values, positionals } = parse(
    args,
    {
      count: { type: 'string', default: '1' },
      header: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string', default: '5000' },
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
  const headers: Record<string, string> = {};
  for (const header of values.header as string[]) {
    const colon = header.indexOf(':');
    const name = header.slice(0, colon).trim().toLowerCase();
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new UsageError(`bad --header ${JSON.stringify(header)}, expected name:value`);
    headers[name] = header.slice(colon + 1).trim();
  }
  return {
    kind: 'call',
    url,
    headers,
    count: integer('--count', values.count as string, 1, MAX_COUNT),
    timeoutMs: integer('--timeout', values.timeout as string, 1, MAX_TIMEOUT_MS),
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
