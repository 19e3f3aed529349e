// What a local cluster left running, found without asking the cluster's own code: network
// namespaces named after its data directory, and processes whose command line or environment
// mentions that directory (istiod-lite's --uds socket, ztunnel's node-agent socket, every pod's
// token file). Tests use it to prove that a run or a `down` left nothing behind.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { clusterIdFor } from '@ambient/local-cluster/runtime';

export interface Leftovers {
  netns: string[];
  processes: string[];
}

export function leftoversOf(dataDir: string): Leftovers {
  const prefix = `lc${clusterIdFor(dataDir)}-`;
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix));
  const processes: string[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state === 'Z') continue; // exited, waiting to be reaped: holds nothing
      if (cmdline.includes(dataDir) || environ.includes(dataDir)) processes.push(`${pid} ${cmdline}`);
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return { netns, processes };
}
