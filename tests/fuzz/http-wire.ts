// HTTP/1.1 written and read by hand, so the fuzzer can send request heads no client library
// would (spaces and controls in the target, odd methods, duplicate or lying headers) and read
// whatever comes back, or nothing.
import type { Duplex } from 'node:stream';

export interface RawRequest {
  method: string;
  target: string;
  headers: ReadonlyArray<readonly [string, string]>;
  body: Uint8Array;
  /** Content-Length as sent; the body's own length when absent. Absent with `chunked` too. */
  contentLength?: number | undefined;
  chunked?: boolean;
}

export function encodeRequest(r: RawRequest): Buffer {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, ...r.headers.map(([k, v]) => `${k}: ${v}`)];
  if (r.chunked) lines.push('Transfer-Encoding: chunked');
  else lines.push(`Content-Length: ${r.contentLength ?? r.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (!r.chunked) return Buffer.concat([head, r.body]);
  const size = Buffer.from(`${r.body.length.toString(16)}\r\n`);
  return Buffer.concat([head, ...(r.body.length > 0 ? [size, r.body, Buffer.from('\r\n')] : []), Buffer.from('0\r\n\r\n')]);
}

export interface RawResponse {
  /** 0 when the connection closed before a status line. */
  status: number;
  /** The head and as much of the body as arrived before the connection closed (or `maxBytes`). */
  text: string;
}

/**
 * Writes `bytes` on the connection `connect` returns and reads the response. `whole` waits for the
 * connection to close (the request says `Connection: close`); otherwise the status line is enough
 * (a watch or a followed log never ends). Rejects only if the connection could not be used.
 */
export function rawExchange(connect: () => Duplex, bytes: Buffer, opts: { whole: boolean; maxBytes?: number }): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect();
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= (opts.maxBytes ?? 1024 * 1024) || (!opts.whole && Buffer.concat(chunks).includes('\r\n\r\n'))) finish();
    });
    // The peer ending its side is the end of the answer (a CONNECT stream stays half-open).
    socket.once('end', finish);
    socket.once('close', finish);
    socket.write(bytes);
  });
}
