// One AdmissionReview POST to a webhook over HTTPS, as kube-apiserver's webhook client makes
// it: `?timeout=<n>s` on the URL, the server verified against the configuration's caBundle (the
// system roots when it has none), one deadline for the whole call, and a failure whose message
// reads like Go's (`Post "<url>": dial tcp ...: connect: connection refused`).
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import { MeshError } from '@ambient/api';

/** Where to send a review: `href` is what errors show; `host`/`port` what is dialled. */
export interface WebhookTarget {
  href: string;
  host: string;
  port: number;
  /** Path and query (`/inject?timeout=10s`). */
  path: string;
  /** The Host header: the URL's host, or `<service>.<namespace>.svc:<port>`. */
  authority: string;
  /** TLS server name to verify (and send as SNI); the URL's host when undefined. */
  servername?: string;
  /** PEM roots; undefined = the system roots. */
  caPem?: string;
}

/** A webhook could not be called or answered nonsense: subject to its failurePolicy. */
export class WebhookCallError extends MeshError<'ERR_WEBHOOK_CALL_FAILED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WEBHOOK_CALL_FAILED', message, options);
  }
}

/** Larger answers are refused rather than buffered (a review's patch is a few KiB). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const UNKNOWN_AUTHORITY = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** Node's socket and TLS errors in the words kube-apiserver's (Go) client uses for them. */
function describe(err: NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string }): string {
  if (err.code === 'ECONNREFUSED') return `dial tcp ${err.address}:${err.port}: connect: connection refused`;
  if (err.code === 'ENOTFOUND') return `dial tcp: lookup ${err.hostname}: no such host`;
  if (err.code && UNKNOWN_AUTHORITY.has(err.code)) return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  if (err.code === 'CERT_HAS_EXPIRED') return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
  if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `tls: failed to verify certificate: ${err.message}`;
  return err.message;
}

/** POSTs `body`; resolves with the parsed JSON of a 2xx answer, rejects with a WebhookCallError. */
export function postAdmissionReview(target: WebhookTarget, body: Buffer, timeoutMs: number): Promise<unknown> {
  // What Go's client says of a request that never got an answer; kube prefixes "failed to call webhook".
  const shown = `failed to call webhook: Post ${JSON.stringify(target.href)}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const fail = (why: string, cause?: unknown): void =>
      settle(() => {
        req?.destroy();
        reject(new WebhookCallError(`${shown}: ${why}`, { cause }));
      });
    let req: ClientRequest | undefined;
    try {
      req = request(
        {
          method: 'POST',
          host: target.host,
          port: target.port,
          path: target.path,
          servername: target.servername,
          ca: target.caPem,
          agent: false,
          headers: {
            host: target.authority,
            'content-type': 'application/json',
            accept: 'application/json, */*',
            'content-length': body.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) fail(`response body larger than ${MAX_RESPONSE_BYTES} bytes`);
            else chunks.push(chunk);
          });
          res.on('error', (err) => fail(describe(err), err));
          res.on('end', () =>
            settle(() => {
              const text = Buffer.concat(chunks).toString('utf8');
              const code = res.statusCode ?? 0;
              let parsed: unknown;
              try {
                parsed = JSON.parse(text);
              } catch (err) {
                if (code >= 200 && code <= 206) {
                  reject(new WebhookCallError(`failed to call webhook: the response body is not JSON: ${(err as Error).message}`, { cause: err }));
                  return;
                }
              }
              if (code < 200 || code > 206) {
                // A Status body's message is what Go's client reports; otherwise the code and a snippet.
                const message = (parsed as { kind?: unknown; message?: unknown } | undefined)?.message;
                const detail = typeof message === 'string' && message ? message : JSON.stringify(text.slice(0, 200));
                reject(new WebhookCallError(`failed to call webhook: the server responded with status code ${code}: ${detail}`));
                return;
              }
              resolve(parsed);
            }),
          );
        },
      );
    } catch (err) {
      fail((err as Error).message, err);
      return;
    }
    req.on('error', (err) => fail(describe(err), err));
    timer = setTimeout(() => fail('context deadline exceeded'), timeoutMs);
    req.end(body);
  });
}
