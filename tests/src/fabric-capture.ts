// What crossed the wire between the nodes while `during` ran: tcpdump on every interface of the
// cluster's fabric netns (the links between nodes), written to a pcap in `dir`. The e2e tests
// use it to show that a cross-node call is HBONE (port 15008) and carries nothing in clear.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Cluster } from '@ambient/local-cluster/cluster';
import { fabricNetns } from '@ambient/local-cluster/runtime';

const run = promisify(execFile);

export interface FabricCapture<T> {
  result: T;
  /** The raw pcap: search it for bytes that must not appear in clear. */
  wire: Buffer;
  /** Packets matching a tcpdump filter (`tcp port 15008`). */
  packets(filter: string): Promise<number>;
  /** tcpdump's own output, for failure messages. */
  log: string;
}

export async function captureFabric<T>(cluster: Cluster, dir: string, during: () => Promise<T>): Promise<FabricCapture<T>> {
  const pcap = join(dir, `fabric-${process.hrtime.bigint()}.pcap`);
  const dump = spawn(
    'ip',
    ['netns', 'exec', fabricNetns(cluster.network.clusterId), 'tcpdump', '-Z', 'root', '-i', 'any', '--immediate-mode', '-U', '-w', pcap, 'tcp'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  await new Promise<void>((ready, fail) => {
    dump.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
      if (c.toString().includes('listening')) ready();
    });
    dump.once('exit', (code) => fail(new Error(`tcpdump exited with ${code}: ${log}`)));
  });
  let result: T;
  try {
    result = await during();
  } finally {
    await new Promise((r) => setTimeout(r, 300)); // let tcpdump write the last packets before it is stopped
    const exited = new Promise((r) => dump.once('exit', r));
    dump.kill('SIGINT');
    await exited;
  }
  return {
    result,
    wire: readFileSync(pcap),
    packets: async (filter) => (await run('tcpdump', ['-nn', '-r', pcap, filter], { encoding: 'utf8' })).stdout.split('\n').filter(Boolean).length,
    log,
  };
}
