// `ip:port` as HBONE writes it in `:authority` (IPv6 in brackets). Only literal IPs: HBONE
// never carries host names, so anything else is a bad request rather than a DNS lookup.
import net from 'node:net';

export interface SocketAddress { host: string; port: number; }

export function parseSocketAddress(text: string): SocketAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (net.isIP(host) !== (m[1] !== undefined ? 6 : 4) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export function formatSocketAddress(address: SocketAddress): string {
  return net.isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
