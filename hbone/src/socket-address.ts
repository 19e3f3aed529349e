// A socket address as every layer passes it: an IP literal and a port, never re-parsed text.
// Text only where text is the format: `:authority`, logs, the pool key. HBONE never carries host
// names, so an authority that is not a literal IP is a bad request rather than a DNS lookup.
import net from 'node:net';

export interface SocketAddress {
  ip: string;
  port: number;
}

export function parseSocketAddress(text: string): SocketAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const ip = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (net.isIP(ip) !== (m[1] !== undefined ? 6 : 4) || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

/** Whether the address is a literal IP and a port in range (what HBONE can carry). */
export function isSocketAddress(address: SocketAddress): boolean {
  return net.isIP(address.ip) !== 0 && Number.isInteger(address.port) && address.port >= 1 && address.port <= 65535;
}

/** `ip:port`, IPv6 in brackets as in a URL authority. */
export function formatSocketAddress(address: SocketAddress): string {
  return net.isIPv6(address.ip) ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`;
}
