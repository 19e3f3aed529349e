import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NodeAgentServer, type PodInfo } from '../src/node-agent-server.ts';
import { reader } from './node-agent-reader.ts';

const socketPath = (dir: string): string => join(dir, 'run', 'node-agent.sock');

function pod(uid: string): PodInfo {
  return {
    uid,
    name: `pod-${uid}`,
    namespace: 'shop',
    ip: '10.244.1.2',
    netns: `lcabc123-p${uid}`,
    netnsPath: `/run/netns/lcabc123-p${uid}`,
    labels: { app: 'web' },
    annotations: {},
    serviceAccount: 'default',
  };
}

describe('NodeAgentServer', () => {
  let dir: string;
  let agent: NodeAgentServer;
  const sockets: Socket[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cni-agent-'));
    agent = new NodeAgentServer();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a snapshot to a new client, then every add and remove', async () => {
    const path = socketPath(dir);
    await agent.start(path);
    agent.podAdded(pod('aaaa0001'));
    const socket = connect(path);
    sockets.push(socket);
    const next = reader(socket);
    assert.deepEqual(await next(), { type: 'snapshot', pods: [pod('aaaa0001')] });
    agent.podAdded(pod('aaaa0002'));
    assert.deepEqual(await next(), { type: 'add', pod: pod('aaaa0002') });
    agent.podRemoved(pod('aaaa0001'));
    assert.deepEqual(await next(), { type: 'remove', pod: pod('aaaa0001') });
    assert.deepEqual(agent.pods(), [pod('aaaa0002')]);
  });

  it('emits the same events in-process', () => {
    const seen: string[] = [];
    agent.on('add', (p) => seen.push(`add ${p.uid}`));
    agent.on('remove', (p) => seen.push(`remove ${p.uid}`));
    agent.podAdded(pod('bbbb0001'));
    agent.podRemoved(pod('bbbb0001'));
    assert.deepEqual(seen, ['add bbbb0001', 'remove bbbb0001']);
    assert.deepEqual(agent.pods(), []);
  });

  it('replaces a stale socket file from a crashed run and removes it on close', async () => {
    const path = socketPath(dir);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, ''); // what a crashed run leaves behind
    await agent.start(path);
    const socket = connect(path);
    sockets.push(socket);
    assert.deepEqual(await reader(socket)(), { type: 'snapshot', pods: [] });
    await agent.close();
    assert.equal(existsSync(path), false);
  });

  it('refuses a socket path too long for a unix socket', async () => {
    await assert.rejects(agent.start(join(dir, 'x'.repeat(120), 'node-agent.sock')), /too long for a unix socket/);
  });
});
