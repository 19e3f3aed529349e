// How a node's ztunnel learns which pods (and netns) it serves, the way Istio's CNI agent hands
// pod netns to ztunnel: the agent's Unix socket streams newline-delimited JSON, a snapshot
// first and then add/remove events; plus the same events in-process.
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { NodeAgentMessage, PodInfo } from '@ambient/api';

export type { NodeAgentMessage, PodInfo };

// A client that stops reading is dropped rather than buffered without bound; it reconnects
// and gets a fresh snapshot, which is all it needs.
const maxBufferedBytes = 4 * 1024 * 1024;
// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
const maxSocketPathBytes = 107;

export interface NodeAgentServerEvents {
  add: [PodInfo];
  remove: [PodInfo];
}

export class NodeAgentServer extends EventEmitter<NodeAgentServerEvents> {
  readonly #pods = new Map<string, PodInfo>();
  readonly #clients = new Set<Socket>();
  #server: Server | undefined;
  #socketPath: string | undefined;

  /** Current pods of the node, in the order they were added. */
  pods(): PodInfo[] {
    return [...this.#pods.values()];
  }

  async start(socketPath: string): Promise<void> {
    if (this.#server) throw new Error(`node agent already serving on ${this.#socketPath}`);
    if (Buffer.byteLength(socketPath) > maxSocketPathBytes) {
      throw new Error(`node agent socket path is too long for a unix socket (${Buffer.byteLength(socketPath)} > ${maxSocketPathBytes} bytes): ${socketPath}`);
    }
    mkdirSync(dirname(socketPath), { recursive: true });
    rmSync(socketPath, { force: true }); // left over by a crashed run
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#socketPath = socketPath;
  }

  podAdded(info: PodInfo): void {
    this.#pods.set(info.uid, info);
    this.emit('add', info);
    this.#broadcast({ type: 'add', pod: info });
  }

  podRemoved(info: PodInfo): void {
    this.#pods.delete(info.uid);
    this.emit('remove', info);
    this.#broadcast({ type: 'remove', pod: info });
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.destroy();
    this.#clients.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.#socketPath) rmSync(this.#socketPath, { force: true });
    this.#socketPath = undefined;
  }

  #accept(socket: Socket): void {
    this.#clients.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#clients.delete(socket));
    socket.resume(); // clients have nothing to say; drain anything they send
    this.#send(socket, { type: 'snapshot', pods: this.pods() });
  }

  #broadcast(msg: NodeAgentMessage): void {
    for (const c of this.#clients) this.#send(c, msg);
  }

  #send(socket: Socket, msg: NodeAgentMessage): void {
    if (socket.destroyed) return;
    if (socket.writableLength > maxBufferedBytes) {
      socket.destroy();
      return;
    }
    socket.write(JSON.stringify(msg) + '\n');
  }
}
