// Name resolution for a pod without DNS: `ip netns exec` bind-mounts /etc/netns/<netns>/hosts
// over /etc/hosts for every process it starts, so one file per netns is that pod's view.
import { isIP } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface HostsEntry {
  ip: string;
  names: string[];
}

export const netnsEtcRoot = '/etc/netns';
export function netnsEtcDir(netns: string): string {
  return join(netnsEtcRoot, netns);
}

const hostnameRe = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/;

/** Renders a hosts file; throws on a bad entry before anything is written. */
export function renderHostsFile(entries: HostsEntry[]): string {
  const lines = ['# written by local-cluster: names resolve from this file only', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const e of entries) {
    if (isIP(e.ip) === 0) throw new TypeError(`hosts entry has an invalid ip: ${JSON.stringify(e.ip)}`);
    if (e.names.length === 0) throw new TypeError(`hosts entry for ${e.ip} has no names`);
    for (const n of e.names) {
      if (!hostnameRe.test(n)) throw new TypeError(`hosts entry for ${e.ip} has an invalid name: ${JSON.stringify(n)}`);
    }
    lines.push(`${e.ip}\t${e.names.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

/** No nameserver: glibc then tries only the netns' own loopback, which refuses at once, so
 *  lookups never leave the namespace and unknown names fail fast. */
export const resolvConf = '# written by local-cluster: no DNS, names come from /etc/hosts\noptions timeout:1 attempts:1\n';

/** Creates the netns' /etc overrides. They must exist before a process starts in the netns,
 *  or `ip netns exec` has nothing to bind-mount and later updates would be invisible to it. */
export async function initNetnsEtc(netns: string, entries: HostsEntry[] = []): Promise<void> {
  const dir = netnsEtcDir(netns);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'hosts'), renderHostsFile(entries));
  await writeFile(join(dir, 'resolv.conf'), resolvConf);
}

/** Rewrites the hosts file IN PLACE (truncate + write, never rename): running processes see it
 *  through a bind mount, which pins the inode. */
export async function writeNetnsHosts(netns: string, entries: HostsEntry[]): Promise<void> {
  const text = renderHostsFile(entries);
  await writeFile(join(netnsEtcDir(netns), 'hosts'), text, { flag: 'w' });
}

export async function removeNetnsEtc(netns: string): Promise<void> {
  await rm(netnsEtcDir(netns), { recursive: true, force: true });
}
