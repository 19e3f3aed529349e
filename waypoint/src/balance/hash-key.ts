// What a consistent-hash pick hashes, from Istio's consistentHash: a request header, a cookie, the
// source IP or a query parameter. A request without the key gets a random endpoint, as Envoy
// does; except that with `httpCookie.ttl` set, a missing cookie is generated and the client told
// to keep it (Envoy's cookie generation), so its next requests stick to the same endpoint.
import type { IncomingHttpHeaders } from 'node:http';
import type { ConsistentHash, HttpCookie } from '@ambient/api';

/** What a pick knows of the request. */
export interface PickContext {
  headers: IncomingHttpHeaders;
  sourceIp: string;
  /** The request path with its query string, as sent. */
  path: string;
}

/** The request's hash key, or undefined when it has none. */
export function hashKeyOf(ch: ConsistentHash, ctx: PickContext): string | undefined {
  if (ch.httpHeaderName !== undefined) return first(ctx.headers[ch.httpHeaderName]);
  if (ch.httpCookie !== undefined) return cookieValue(ctx.headers.cookie, ch.httpCookie.name);
  if (ch.useSourceIp === true) return ctx.sourceIp === '' ? undefined : ctx.sourceIp;
  if (ch.httpQueryParameterName !== undefined) return queryValue(ctx.path, ch.httpQueryParameterName);
  return undefined;
}

/**
 * A new cookie value (64 random bits, hex) and its Set-Cookie header. A ttl of 0 makes a session
 * cookie (no Max-Age), as Envoy does; Max-Age is whole seconds, rounded up so a sub-second ttl
 * does not become "expire now".
 */
export function generateCookie(cookie: HttpCookie, random: () => number): { value: string; setCookie: string } {
  const value = hex8(random()) + hex8(random());
  let setCookie = `${cookie.name}=${value}`;
  if (cookie.path !== undefined && cookie.path !== '') setCookie += `; Path=${cookie.path}`;
  if (cookie.ttlMs !== undefined && cookie.ttlMs > 0) setCookie += `; Max-Age=${Math.ceil(cookie.ttlMs / 1000)}`;
  return { value, setCookie: `${setCookie}; HttpOnly` };
}

function hex8(r: number): string {
  return Math.floor(r * 0x100000000)
    .toString(16)
    .padStart(8, '0');
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The value of cookie `name` in a Cookie header ("a=1; b=2"; HTTP/2 may send several), unquoted. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) {
    for (const h of header) {
      const v = cookieValue(h, name);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 0x20) i++;
    const end = header.indexOf(';', i);
    const stop = end < 0 ? header.length : end;
    const eq = header.indexOf('=', i);
    if (eq > i && eq < stop && eq - i === name.length && header.startsWith(name, i)) {
      const v = header.slice(eq + 1, stop).trim();
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
    i = stop + 1;
  }
  return undefined;
}

/** The raw (undecoded) value of the first query parameter `name`; "" for a bare "?name". */
export function queryValue(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  let i = q + 1;
  while (i <= path.length) {
    let end = path.indexOf('&', i);
    if (end < 0) end = path.length;
    const hash = path.indexOf('#', i);
    const stop = hash >= 0 && hash < end ? hash : end;
    const eq = path.indexOf('=', i);
    const nameEnd = eq >= 0 && eq < stop ? eq : stop;
    if (nameEnd - i === name.length && path.startsWith(name, i)) return nameEnd === stop ? '' : path.slice(eq + 1, stop);
    if (stop < end) return undefined; // a fragment ends the query
    i = end + 1;
  }
  return undefined;
}
