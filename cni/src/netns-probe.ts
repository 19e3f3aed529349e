// What is inside a network namespace, seen from the node: the IPv4 addresses of its interfaces,
// read with `nsenter --net=<path> ip -j -4 addr show` (needs SYS_ADMIN for setns). A netns that
// no longer exists, or cannot be entered, has no addresses.
import { execFile } from 'node:child_process';

const timeoutMs = 10_000;

export type AddressProbe = (netnsPath: string) => Promise<string[]>;

export const netnsAddresses: AddressProbe = (netnsPath) =>
  new Promise((resolve) => {
    execFile('nsenter', [`--net=${netnsPath}`, 'ip', '-j', '-4', 'addr', 'show'], { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve([]);
      try {
        const links = JSON.parse(stdout || '[]') as { addr_info?: { local?: string }[] }[];
        resolve(links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? '')).filter((a) => a !== '' && a !== '127.0.0.1'));
      } catch {
        resolve([]);
      }
    });
  });
