// Header fields that describe one connection rather than the message (RFC 9110 §7.6.1) do not
// cross a proxy, and HTTP/2 refuses them outright (RFC 9113 §8.2.2), so they are dropped both
// ways: the downstream may speak HTTP/1.1 and the endpoint HTTP/2, or the reverse.
import { hopByHopHeaders } from '../http/hop-by-hop.ts';
import type { HeaderMap } from '../http/request-facts.ts';
import type { UpstreamHeaders } from './endpoint.ts';

// Envoy's list, plus what the upstream client writes itself: `host` (from the authority),
// `expect` (the server side answers 100-continue; undici refuses to send it) and `http2-settings`
// (only meaningful on an h2c upgrade, which we never do).
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([...hopByHopHeaders, 'host', 'expect', 'http2-settings']);

/** The headers to send upstream: connection-specific fields and pseudo-headers out, `host` from the authority. */
export function upstreamRequestHeaders(headers: HeaderMap, authority: string): UpstreamHeaders {
  const named = connectionTokens(headers.connection);
  const out: UpstreamHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (CONNECTION_SPECIFIC.has(name) || named?.has(name) === true) {
      // gRPC needs `te: trailers` end to end (and it is the one TE value HTTP/2 allows).
      if (name === 'te' && hasToken(value, 'trailers')) out.te = 'trailers';
      continue;
    }
    out[name] = value;
  }
  out.host = authority;
  return out;
}

/** The endpoint's response headers without connection-specific fields (the response may go out on HTTP/2). */
export function downstreamResponseHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): UpstreamHeaders {
  const named = connectionTokens(headers.connection);
  const out: UpstreamHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name) || named?.has(name) === true) continue;
    out[name] = value;
  }
  return out;
}

/** Trailers as single strings (repeated fields joined, as RFC 9110 §5.3 allows). */
export function flattenTrailers(trailers: Readonly<Record<string, string | string[] | undefined>> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (trailers == null) return out;
  for (const name in trailers) {
    const value = trailers[name];
    if (value === undefined || name.charCodeAt(0) === 58) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Fields the Connection header names are connection-specific too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = new Set<string>();
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') tokens.add(t);
    }
  }
  return tokens;
}

function hasToken(value: string | string[], token: string): boolean {
  return connectionTokens(value)?.has(token) === true;
}
