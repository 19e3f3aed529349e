// The node agent's side of the pod handoff: the local cluster (and, in Kubernetes, the CNI
// piece of the DaemonSet) serves newline-delimited JSON on a Unix socket — a snapshot of the
// enrolled node's pods, then add/remove events — as Istio's CNI agent hands pod network
// namespaces to ztunnel. A snapshot after a reconnect replaces everything known before, so a
// pod added or removed while ztunnel was away is reconciled.
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { NodeAgentMessage, PodInfo } from '@ambient/api';
import { MeshError } from '@ambient/api';

export type { PodInfo };

export interface NodeAgentClientEvents {
  /** A pod to capture: new, or seen again in a snapshot with changed details. */
  add: [PodInfo];
  /** A pod that left the node (or was missing from a snapshot after a reconnect). */
  remove: [PodInfo];
  /** The first snapshot after each (re)connect has been applied. */
  synced: [];
  error: [Error];
}

export class NodeAgentProtocolError extends MeshError<'ERR_NODE_AGENT_PROTOCOL'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NODE_AGENT_PROTOCOL', message, options);
  }
}

const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Parses one line of the protocol; throws NodeAgentProtocolError naming what is wrong. */
export function parseNodeAgentMessage(line: string): NodeAgentMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    throw new NodeAgentProtocolError(`node agent sent a line that is not JSON: ${line.slice(0, 80)}`, { cause: err });
  }
  const m = msg as Partial<NodeAgentMessage> & { pods?: unknown; pod?: unknown };
  const isPod = (p: unknown): p is PodInfo => {
    const q = p as Partial<PodInfo> | null;
    return (
      typeof q === 'object' &&
      q !== null &&
      typeof q.uid === 'string' &&
      typeof q.netnsPath === 'string' &&
      typeof q.ip === 'string' &&
      typeof q.namespace === 'string' &&
      typeof q.name === 'string'
    );
  };
  if (m.type === 'snapshot' && Array.isArray(m.pods) && m.pods.every(isPod)) return m as NodeAgentMessage;
  if ((m.type === 'add' || m.type === 'remove') && isPod(m.pod)) return m as NodeAgentMessage;
  throw new NodeAgentProtocolError(`node agent sent an unexpected message: ${line.slice(0, 120)}`);
}

export class NodeAgentClient extends EventEmitter<NodeAgentClientEvents> {
  readonly #socketPath: string;
  readonly #retryMs: number;
  readonly #pods = new Map<string, PodInfo>();
  #socket: Socket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(socketPath: string, opts: { retryMs?: number } = {}) {
    super();
    this.#socketPath = socketPath;
    this.#retryMs = opts.retryMs ?? 1_000;
  }

  pods(): PodInfo[] {
    return [...this.#pods.values()];
  }

  start(): void {
    if (this.#closed || this.#socket) return;
    let buffer = '';
    const socket = connect(this.#socketPath);
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE_BYTES) {
        this.emit('error', new NodeAgentProtocolError(`node agent line longer than ${MAX_LINE_BYTES} bytes`));
        socket.destroy();
        return;
      }
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        try {
          this.#apply(parseNodeAgentMessage(line));
        } catch (err) {
          this.emit('error', err as Error);
        }
      }
    });
    socket.on('error', (err) => this.emit('error', new Error(`node agent socket ${this.#socketPath}: ${err.message}`, { cause: err })));
    socket.on('close', () => {
      this.#socket = undefined;
      if (!this.#closed) this.#timer = setTimeout(() => this.start(), this.#retryMs);
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#socket?.destroy();
  }

  #apply(msg: NodeAgentMessage): void {
    if (msg.type === 'add') {
      this.#pods.set(msg.pod.uid, msg.pod);
      this.emit('add', msg.pod);
    } else if (msg.type === 'remove') {
      const known = this.#pods.get(msg.pod.uid) ?? msg.pod;
      this.#pods.delete(msg.pod.uid);
      this.emit('remove', known);
    } else {
      const seen = new Set(msg.pods.map((p) => p.uid));
      for (const [uid, pod] of [...this.#pods]) {
        if (!seen.has(uid)) {
          this.#pods.delete(uid);
          this.emit('remove', pod);
        }
      }
      for (const pod of msg.pods) {
        const old = this.#pods.get(pod.uid);
        this.#pods.set(pod.uid, pod);
        if (!old || old.netnsPath !== pod.netnsPath || old.ip !== pod.ip) this.emit('add', pod);
      }
      this.emit('synced');
    }
  }
}
