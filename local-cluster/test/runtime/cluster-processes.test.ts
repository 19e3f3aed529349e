import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { clusterIdEnv, clusterProcesses, isAlive, processStartTicks, selfIdentity, stopProcesses } from '../../src/runtime/cluster-processes.ts';

/** A real process that ignores SIGTERM when asked to, marked as cluster `id`'s. */
async function marked(id: string, ignoreTerm = false): Promise<ChildProcess> {
  const code = `${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} setInterval(() => {}, 1000); process.stdout.write('up');`;
  const child = spawn(process.execPath, ['-e', code], { env: { ...process.env, [clusterIdEnv]: id }, stdio: ['ignore', 'pipe', 'ignore'] });
  await once(child.stdout!, 'data');
  return child;
}

describe('cluster processes (found by LOCAL_CLUSTER_ID in /proc)', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('finds exactly the processes marked with its cluster id', async () => {
    const mine = await marked('a1b2c3');
    const other = await marked('d4e5f6');
    children.push(mine, other);
    const found = clusterProcesses('a1b2c3').map((p) => p.pid);
    assert.deepEqual(found, [mine.pid]);
    assert.ok(!clusterProcesses('d4e5f6').some((p) => p.pid === mine.pid));
  });

  it('does not take a later process given the same pid for the one it recorded', () => {
    const self = selfIdentity();
    assert.equal(self.startTicks, processStartTicks(process.pid));
    assert.ok(isAlive(self));
    assert.ok(!isAlive({ pid: self.pid, startTicks: self.startTicks + 1 }));
  });

  it('stops them with SIGTERM, and with SIGKILL those that ignore it', async () => {
    const polite = await marked('0a0b0c');
    const stubborn = await marked('0a0b0c', true);
    children.push(polite, stubborn);
    const exits = [once(polite, 'exit'), once(stubborn, 'exit')];
    assert.equal(await stopProcesses(clusterProcesses('0a0b0c'), 300), 2);
    const [[, politeSignal], [, stubbornSignal]] = await Promise.all(exits);
    assert.equal(politeSignal, 'SIGTERM');
    assert.equal(stubbornSignal, 'SIGKILL');
    assert.deepEqual(clusterProcesses('0a0b0c'), []);
  });
});
