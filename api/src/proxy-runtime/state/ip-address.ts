// IP text helpers shared by the state indexes and policy evaluation. Addresses are compared as
// canonical text, so every address that enters the state (and every address looked up) goes
// through normalizeIp first: "::ffff:10.0.0.1" (how a dual-stack socket reports an IPv4 peer)
// and "10.0.0.1" must find the same workload.
import { isIP } from 'node:net';

const V4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** Canonical text of an IP, or undefined when the text is not an IP address. */
export function normalizeIp(text: string): string | undefined {
  const mapped = V4_MAPPED.exec(text);
  const candidate = mapped ? mapped[1]! : text;
  const family = isIP(candidate);
  if (family === 4) return candidate;
  if (family === 6) return ipv6ToText(ipv6ToBigInt(candidate.toLowerCase()));
  return undefined;
}

/** Whether `ip` lies in `address/length`. Different families never match. */
export function cidrContains(address: string, length: number, ip: string): boolean {
  const a = normalizeIp(address);
  const b = normalizeIp(ip);
  if (a === undefined || b === undefined) return false;
  const family = isIP(a);
  if (family !== isIP(b)) return false;
  const bits = family === 4 ? 32 : 128;
  if (length <= 0) return true;
  if (length > bits) return false;
  const shift = BigInt(bits - length);
  const toInt = family === 4 ? ipv4ToBigInt : ipv6ToBigInt;
  return toInt(a) >> shift === toInt(b) >> shift;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  // A trailing dotted quad ("::ffff:1.2.3.4" forms that are not v4-mapped, "64:ff9b::1.2.3.4").
  let text = ip;
  const quad = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (quad) {
    const v = ipv4ToBigInt(quad[1]!);
    text = `${text.slice(0, quad.index)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - headParts.length - tailParts.length).fill('0');
  return [...headParts, ...fill, ...tailParts].reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
}

function ipv6ToText(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
