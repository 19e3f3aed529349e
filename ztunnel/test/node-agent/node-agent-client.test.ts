import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgentClient, NodeAgentProtocolError, parseNodeAgentMessage, type PodInfo } from '../../src/node-agent/node-agent-client.ts';

const pod = (uid: string): PodInfo => ({
  uid,
  name: `p-${uid}`,
  namespace: 'shop',
  ip: '10.244.1.2',
  netns: `lc-${uid}`,
  netnsPath: `/run/netns/lc-${uid}`,
  labels: {},
  annotations: {},
  serviceAccount: 'default',
});

describe('NodeAgentClient', () => {
  let dir: string;
  let server: Server;
  let peers: Socket[] = [];
  let client: NodeAgentClient | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'node-agent-'));
    peers = [];
    server = createServer((s) => peers.push(s));
    await new Promise<void>((r) => server.listen(join(dir, 'agent.sock'), r));
  });
  afterEach(async () => {
    client?.close();
    for (const p of peers) p.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const next = <T>(event: 'add' | 'remove' | 'synced' | 'error'): Promise<T> => new Promise((r) => client!.once(event, r as never));
  const connected = async (): Promise<Socket> => {
    for (let i = 0; i < 200 && peers.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    return peers.at(-1)!;
  };

  it('applies a snapshot, then add and remove events', async () => {
    client = new NodeAgentClient(join(dir, 'agent.sock'));
    const added: string[] = [];
    client.on('add', (p) => added.push(p.uid));
    client.start();
    const peer = await connected();
    const synced = next('synced');
    peer.write(`${JSON.stringify({ type: 'snapshot', pods: [pod('a'), pod('b')] })}\n`);
    await synced;
    assert.deepEqual(added, ['a', 'b']);
    const removed = next<PodInfo>('remove');
    peer.write(`${JSON.stringify({ type: 'add', pod: pod('c') })}\n${JSON.stringify({ type: 'remove', pod: pod('a') })}\n`);
    assert.equal((await removed).uid, 'a');
    assert.deepEqual(
      client
        .pods()
        .map((p) => p.uid)
        .sort(),
      ['b', 'c'],
    );
  });

  it('reconciles on reconnect: pods missing from the new snapshot are removed', async () => {
    client = new NodeAgentClient(join(dir, 'agent.sock'), { retryMs: 10 });
    client.start();
    let peer = await connected();
    let synced = next('synced');
    peer.write(`${JSON.stringify({ type: 'snapshot', pods: [pod('a'), pod('b')] })}\n`);
    await synced;
    peer.destroy();
    peers = [];
    peer = await connected();
    const removed = next<PodInfo>('remove');
    synced = next('synced');
    peer.write(`${JSON.stringify({ type: 'snapshot', pods: [pod('b'), pod('d')] })}\n`);
    assert.equal((await removed).uid, 'a');
    await synced;
    assert.deepEqual(
      client
        .pods()
        .map((p) => p.uid)
        .sort(),
      ['b', 'd'],
    );
  });

  it('reports a malformed line and keeps going', async () => {
    client = new NodeAgentClient(join(dir, 'agent.sock'));
    client.start();
    const peer = await connected();
    const error = next<Error>('error');
    peer.write('{not json\n');
    assert.ok((await error) instanceof NodeAgentProtocolError);
    const added = next<PodInfo>('add');
    peer.write(`${JSON.stringify({ type: 'add', pod: pod('z') })}\n`);
    assert.equal((await added).uid, 'z');
  });

  it('rejects messages without the fields capture needs', () => {
    assert.throws(() => parseNodeAgentMessage(JSON.stringify({ type: 'add', pod: { uid: 'x' } })), /unexpected message/);
    assert.throws(() => parseNodeAgentMessage(JSON.stringify({ type: 'explode' })), NodeAgentProtocolError);
  });
});
