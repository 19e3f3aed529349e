// The request headers an HBONE CONNECT carries besides :authority (DESIGN, data plane facts).
import crypto from 'node:crypto';
import net from 'node:net';

/** A fresh W3C trace context (version 00, sampled): one per proxied connection. */
export function newTraceparent(): string {
  const bytes = crypto.randomBytes(24);
  return `00-${bytes.toString('hex', 0, 16)}-${bytes.toString('hex', 16, 24)}-01`;
}

/** W3C baggage from workload attributes (`k8s.namespace.name=a,...`), values percent-encoded. */
export function formatBaggage(attributes: Readonly<Record<string, string>>): string {
  return Object.entries(attributes)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join(',');
}

/** RFC 7239 `for=` with the quoting and brackets IPv6 needs. */
export function formatForwarded(sourceIp: string): string {
  return net.isIPv6(sourceIp) ? `for="[${sourceIp}]"` : `for="${sourceIp}"`;
}
