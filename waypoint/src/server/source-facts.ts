// Who is calling, from the HBONE CONNECT: the identity its certificate proves, the namespace in
// that identity, and the source workload's IP. The IP comes from `forwarded: for="..."`, which
// the source ztunnel sets to the pod's address (the TCP peer is the ztunnel's node address);
// it is trusted because the peer proved a mesh identity. Without it, the TCP peer.
import net from 'node:net';
import { parseSpiffeId } from '@ambient/api';
import type { InboundRequest } from '@ambient/hbone';
import type { SourceFacts } from '../http/request-facts.ts';

/**
 * The first `for=` node of an RFC 7239 `forwarded` header when it is an IP literal
 * (`for="10.0.0.1"`, `for=10.0.0.1`, `for="[2001:db8::1]:4711"`); undefined otherwise (absent,
 * obfuscated `_hidden`, `unknown`).
 */
export function forwardedFor(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  // The first element is the original client; later ones were appended by proxies on the way.
  const first = value.split(',')[0]!;
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    let node = pair.slice(eq + 1).trim();
    if (node.startsWith('"') && node.endsWith('"') && node.length >= 2) node = node.slice(1, -1);
    // A bare IPv6 literal is not RFC 7239, but tolerate it before reading `ip:port` forms.
    const ip = net.isIP(node) !== 0 ? node : node.startsWith('[') ? node.slice(1, node.indexOf(']')) : node.replace(/:\d+$/, '');
    return net.isIP(ip) !== 0 ? unmapIpv4(ip) : undefined;
  }
  return undefined;
}

/** A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`; policies and logs want `a.b.c.d`. */
export function unmapIpv4(ip: string): string {
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** Undefined when the identity is not a workload SPIFFE ID (the HBONE server already refuses those). */
export function sourceFacts(request: Pick<InboundRequest, 'sourceIdentity' | 'sourceAddress' | 'headers'>): SourceFacts | undefined {
  const id = parseSpiffeId(request.sourceIdentity);
  if (id === undefined) return undefined;
  return {
    identity: request.sourceIdentity,
    namespace: id.namespace,
    ip: forwardedFor(request.headers.forwarded) ?? unmapIpv4(request.sourceAddress),
  };
}
