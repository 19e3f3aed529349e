// Protocol detection from a stream's first bytes (Istio's automatic protocol selection, Envoy's
// http_inspector): the HTTP/2 connection preface is h2c, an HTTP/1.x request line (a method
// and a space) is HTTP/1.1, anything else is opaque TCP. At most 24 bytes decide.
import http from 'node:http';

/** RFC 9113 §3.4: what an HTTP/2 client with prior knowledge sends first. */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type SniffedProtocol = 'http1' | 'http2' | 'tcp';

// The methods Node's parser (llhttp) accepts, each with its space: a request line only. Known
// methods rather than any token, so that text protocols that also start with a word and a space
// (Redis inline commands `SET k v`, SMTP `HELO x`) stay TCP instead of earning a 400.
const requestLineStarts: readonly Buffer[] = http.METHODS.map((m) => Buffer.from(`${m} `, 'latin1'));

/** Whether `bytes` is a prefix of `whole` (or all of it). */
function isPrefixOf(bytes: Buffer, whole: Buffer): boolean {
  return bytes.length <= whole.length && whole.compare(bytes, 0, bytes.length, 0, bytes.length) === 0;
}

/**
 * The protocol the first bytes of a stream show, or undefined while they could still be more
 * than one. `ended`: no more bytes will come (EOF or the sniff timeout): decide with these.
 */
export function sniffProtocol(bytes: Buffer, ended = false): SniffedProtocol | undefined {
  if (bytes.length >= HTTP2_PREFACE.length && isPrefixOf(HTTP2_PREFACE, bytes)) return 'http2';
  let undecided = bytes.length < HTTP2_PREFACE.length && isPrefixOf(bytes, HTTP2_PREFACE);
  for (const start of requestLineStarts) {
    if (bytes.length >= start.length && isPrefixOf(start, bytes)) return 'http1';
    if (!undecided && isPrefixOf(bytes, start)) undecided = true;
  }
  return undecided && !ended ? undefined : 'tcp';
}

/**
 * The codec for a port declared HTTP: h2c after the preface, else HTTP/1.1 (Envoy's AUTO codec,
 * which Istio uses on every HTTP listener), so a gRPC client on a port named `http` still works.
 * Undefined while the bytes could still be the preface.
 */
export function httpCodec(bytes: Buffer, ended = false): 'http1' | 'http2' | undefined {
  if (bytes.length >= HTTP2_PREFACE.length) return isPrefixOf(HTTP2_PREFACE, bytes) ? 'http2' : 'http1';
  return isPrefixOf(bytes, HTTP2_PREFACE) && !ended ? undefined : 'http1';
}
