// ztunnel's side of the node-agent socket, for the tests: its messages, one at a time.
import type { Socket } from 'node:net';
import type { NodeAgentMessage } from '@ambient/api';

/** Reads newline-delimited JSON messages from a socket, one at a time. */
export function reader(socket: Socket): () => Promise<NodeAgentMessage> {
  let buffer = '';
  const queued: NodeAgentMessage[] = [];
  const waiting: ((m: NodeAgentMessage) => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const msg = JSON.parse(buffer.slice(0, i)) as NodeAgentMessage;
      buffer = buffer.slice(i + 1);
      const w = waiting.shift();
      if (w) w(msg);
      else queued.push(msg);
    }
  });
  return () => {
    const m = queued.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no node-agent message within 5 s')), 5000);
      waiting.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  };
}
