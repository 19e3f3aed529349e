// The echo app's client side: sequential HTTP calls, one JSON line per response.
import http from 'node:http';
import type { CallCommand } from './echo-args.ts';

// Bodies beyond this are truncated: the client prints them on one line and must stay bounded.
const MAX_BODY_BYTES = 1 << 20;

export interface CallResult {
  request: number;
  status?: number;
  statusMessage?: string;
  body?: unknown;
  error?: string;
}

/** Makes the calls one after another; resolves true when every one answered 2xx. */
export async function callRepeatedly(command: CallCommand, print: (result: CallResult) => void): Promise<boolean> {
  let allOk = true;
  for (let i = 1; i <= command.count; i++) {
    const result = await callOnce(command, i);
    print(result);
    if (result.status === undefined || result.status < 200 || result.status > 299) allOk = false;
  }
  return allOk;
}

function callOnce(command: CallCommand, request: number): Promise<CallResult> {
  return new Promise((resolve) => {
    const req = http.request(
      command.url,
      {
        headers: command.headers,
        // A new connection per call: an L4 mesh balances connections, so repeated calls spread
        // across replicas only when each one opens its own.
        agent: false,
        signal: AbortSignal.timeout(command.timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_BODY_BYTES) chunks.push(chunk.subarray(0, MAX_BODY_BYTES - size));
          size += chunk.length;
        });
        res.on('end', () => resolve({ request, status: res.statusCode, statusMessage: res.statusMessage, body: decode(Buffer.concat(chunks)) }));
        res.on('error', (err) => resolve({ request, status: res.statusCode, error: describe(err, command) }));
      },
    );
    req.on('error', (err) => resolve({ request, error: describe(err, command) }));
    req.end();
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

function describe(err: Error, command: CallCommand): string {
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return `no answer from ${command.url.href} within ${command.timeoutMs} ms`;
  return `${err.message} (${command.url.href})`;
}
