// Gateway API's RequestHeaderModifier / ResponseHeaderModifier applied to a header record in the
// shape Node's http and http2 use (lower-case names; a repeated header as an array).
//
// Order: remove, then set, then add: the order Envoy applies the headers Istio programs from
// these filters, so a rule that removes and re-adds a header behaves as it does under Istio.
//
// Headers the proxy owns are never touched, whatever the config says; Envoy refuses the same
// ones (`HeaderUtility::isModifiableHeader`: pseudo-headers and host), and the rest would break
// forwarding:
//   - ':'-prefixed pseudo-headers: HTTP/2 framing, not headers; the proxy derives them;
//   - host: the upstream authority comes from URLRewrite's hostname, not from a header filter;
//   - connection, keep-alive, proxy-connection, transfer-encoding, upgrade, te, trailer:
//     hop-by-hop (RFC 9110 §7.6.1), forbidden in HTTP/2 (RFC 9113 §8.2.2); the proxy manages
//     each hop's own;
//   - content-length: body framing, which the proxy computes for the bytes it sends.
// A name that is not an HTTP token or a value with control characters (CR, LF, NUL...) is
// skipped too: Node would throw when sending it, failing the request instead of the filter.
import type { HeaderModifier } from '@ambient/api';
import { hopByHopHeaders } from '../http/hop-by-hop.ts';

export type MutableHeaders = Record<string, string | string[] | undefined>;

const protectedHeaders: ReadonlySet<string> = new Set(['host', ...hopByHopHeaders, 'trailer', 'content-length']);

// RFC 9110 §5.6.2 token, lower-case (names are compared lower-cased).
const headerToken = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// The characters Node's http refuses in a value (its checkInvalidHeaderChar).
const invalidValueChar = /[^\t\x20-\x7e\x80-\xff]/;

/** Whether a header filter may change this (lower-case) header: see the list above. */
export function isModifiableHeader(name: string): boolean {
  return name.charCodeAt(0) !== 0x3a /* : */ && !protectedHeaders.has(name) && headerToken.test(name);
}

/** Applies one modifier in place: remove, set (replaces every value), add (appends a value). */
export function applyHeaderModifier(headers: MutableHeaders, mod: HeaderModifier): void {
  if (mod.remove !== undefined) {
    for (const raw of mod.remove) {
      const name = raw.toLowerCase();
      if (isModifiableHeader(name)) delete headers[name];
    }
  }
  if (mod.set !== undefined) {
    for (const h of mod.set) {
      const name = h.name.toLowerCase();
      const value = h.value ?? '';
      if (isModifiableHeader(name) && !invalidValueChar.test(value)) headers[name] = value;
    }
  }
  if (mod.add !== undefined) {
    for (const h of mod.add) {
      const name = h.name.toLowerCase();
      const value = h.value ?? '';
      if (isModifiableHeader(name) && !invalidValueChar.test(value)) headers[name] = appended(headers[name], name, value);
    }
  }
}

function appended(existing: string | string[] | undefined, name: string, value: string): string | string[] {
  if (existing === undefined) return value;
  // Already several field lines: keep them as lines. A new array, because the old one may be the
  // incoming request's own.
  if (Array.isArray(existing)) return [...existing, value];
  // Set-Cookie cannot be comma-joined (RFC 9110 §5.3): each cookie is its own field line.
  if (name === 'set-cookie') return [existing, value];
  // Cookie pairs are joined with "; " (RFC 9113 §8.2.3 and RFC 6265), never with a comma.
  if (name === 'cookie') return `${existing}; ${value}`;
  // Gateway API's form: "my-header: foo" + add "bar" → "my-header: foo,bar".
  return `${existing},${value}`;
}
