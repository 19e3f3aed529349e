// A RateLimitPolicy's `when` predicates and `counters`, compiled once per config into plain
// functions over the request, so that the request path does a property read and one string
// test per predicate. The CEL subset itself is parsed and checked by the shared parser
// (`@ambient/api/mesh-policy`); this file only gives its parsed form a meaning:
//
// - An attribute the request does not have (a header not sent, no source principal) is absent:
//   `==`, startsWith, endsWith and matches are false on it, `!=` is true (it is not that value).
//   CEL would raise an error; a predicate that quietly never applies would be worse.
// - A counter over an absent attribute counts under one shared "absent" value, so leaving a
//   header out does not escape a per-header limit (Kuadrant's Limitador skips the limit instead).
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RateLimitAttribute, RateLimitPredicate } from '@ambient/api/mesh-policy';

/** What a rate limit reads about one request; the lead fills it from the request facts. */
export interface RateLimitRequest {
  /** Upper-case method. */
  method: string;
  /** The path as routed; a query, if present, is not part of `request.path`. */
  path: string;
  /** Host (HTTP/1.1) or :authority (HTTP/2) as sent. */
  host: string;
  /** Lower-case names, as Node gives them. */
  headers: IncomingHttpHeaders;
  /** The source workload's IP. */
  sourceIp: string;
  /** The source's SPIFFE ID (from its HBONE certificate). */
  sourcePrincipal?: string;
  sourceNamespace?: string;
}

export type AttributeReader = (req: RateLimitRequest) => string | undefined;
export type RequestPredicate = (req: RateLimitRequest) => boolean;

const readMethod: AttributeReader = (r) => r.method;
const readHost: AttributeReader = (r) => r.host;
const readSourceAddress: AttributeReader = (r) => r.sourceIp;
const readSourcePrincipal: AttributeReader = (r) => r.sourcePrincipal;
const readSourceNamespace: AttributeReader = (r) => r.sourceNamespace;
const readPath: AttributeReader = (r) => {
  const q = r.path.indexOf('?');
  return q < 0 ? r.path : r.path.slice(0, q);
};

export function attributeReader(a: RateLimitAttribute): AttributeReader {
  switch (a.name) {
    case 'request.method':
      return readMethod;
    case 'request.path':
      return readPath;
    case 'request.host':
      return readHost;
    case 'source.address':
      return readSourceAddress;
    case 'source.principal':
      return readSourcePrincipal;
    case 'source.namespace':
      return readSourceNamespace;
    case 'request.headers': {
      const name = a.header ?? '';
      // Repeated headers are joined with "," as Envoy's CEL `request.headers` map does.
      return (r) => {
        const v = r.headers[name];
        return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
      };
    }
  }
}

export function compilePredicate(p: RateLimitPredicate): RequestPredicate {
  const read = attributeReader(p.attribute);
  const value = p.value;
  switch (p.op) {
    case '==':
      return (r) => read(r) === value;
    case '!=':
      return (r) => read(r) !== value;
    case 'startsWith':
      return (r) => read(r)?.startsWith(value) === true;
    case 'endsWith':
      return (r) => read(r)?.endsWith(value) === true;
    case 'matches': {
      // CEL's matches is an unanchored search (RE2 PartialMatch), as RegExp.test is.
      const re = new RegExp(value);
      return (r) => {
        const v = read(r);
        return v !== undefined && re.test(v);
      };
    }
  }
}

/** Whether every predicate holds (none = always). */
export function allHold(predicates: readonly RequestPredicate[], req: RateLimitRequest): boolean {
  for (let i = 0; i < predicates.length; i++) if (!predicates[i]!(req)) return false;
  return true;
}

/** Keys longer than this are hashed: a client-chosen header value must not size our memory or Redis keys. */
const MAX_PLAIN_KEY = 128;

/**
 * The counter a request counts under: '' without counters; else each value length-prefixed
 * ("3:GET"), an absent one as "-", so that no two value lists share a key; long keys hashed
 * ("#" + SHA-256, which no plain key starts with).
 */
export function counterKey(readers: readonly AttributeReader[], req: RateLimitRequest): string {
  if (readers.length === 0) return '';
  let key = '';
  for (let i = 0; i < readers.length; i++) {
    const v = readers[i]!(req);
    key += v === undefined ? '-' : `${v.length}:${v}`;
  }
  return key.length > MAX_PLAIN_KEY ? `#${createHash('sha256').update(key).digest('base64url')}` : key;
}
