// An in-process byte pipe between the HBONE relay (one end, returned as the "upstream" of the
// CONNECT) and the waypoint's own HTTP or TCP handling (the other end). The HBONE server only
// relays a CONNECT stream to a Duplex, so the bytes take one extra hop through here; Node's
// http and http2 servers accept any Duplex from `emit('connection')`.
//
// Why not stream.duplexPair(): its end() waits for the peer to *read* the EOF, and a side
// destroyed without an error leaves the other side's end() waiting forever, so the HBONE relay
// (which ends its side when the client half-closes) never finishes and the stream leaks. Here an
// end is a FIN (finished once sent), and a destroyed end behaves like a closed socket: the peer
// reads EOF after what was already sent, and its later writes are dropped. An end destroyed
// *with* an error destroys its peer with that error, so the relay resets the CONNECT stream and
// reports why: both ends need an 'error' listener, as sockets do.
//
// `observe` shows each chunk (and the EOF, as null) when it arrives, before anyone reads it:
// protocol sniffing and the HTTP/1 header timer look at bytes without consuming them, so the
// consumer gets the stream untouched (no unshift, which is impossible after an early EOF).
import { Duplex } from 'node:stream';

export type ChunkObserver = (chunk: Buffer | null) => void;

export class PipeEnd extends Duplex {
  #peer: PipeEnd | undefined;
  /** The peer's write callback, held until we are read (backpressure: one chunk in flight). */
  #pendingWrite: (() => void) | undefined;
  #observer: ChunkObserver | undefined;
  #eof = false;

  constructor() {
    super({ allowHalfOpen: true });
  }

  /** Sees every chunk the peer writes to us (null = the peer ended) as it arrives. */
  observe(observer: ChunkObserver | undefined): void {
    this.#observer = observer;
  }

  static pair(): [PipeEnd, PipeEnd] {
    const a = new PipeEnd();
    const b = new PipeEnd();
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  override _read(): void {
    const release = this.#pendingWrite;
    if (release !== undefined) {
      this.#pendingWrite = undefined;
      release();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.#peer!;
    if (chunk.length === 0) {
      process.nextTick(callback);
      return;
    }
    // The observer may hand the peer to its consumer, who may destroy it at once.
    if (!peer.destroyed) peer.#observer?.(chunk);
    if (peer.destroyed) {
      // The peer is gone: drop the bytes, as a socket whose peer closed would.
      callback();
      return;
    }
    peer.push(chunk);
    peer.#pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#peer!.#end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.#peer!;
    // Writes waiting for us to read will never be read: let them complete.
    this._read();
    if (!peer.destroyed) {
      // Next tick: the destroyer may be inside the peer's own callbacks (an HTTP parser).
      process.nextTick(() => {
        if (peer.destroyed) return;
        if (error) peer.destroy(error);
        else peer.#end();
      });
    }
    callback(error);
  }

  #end(): void {
    if (this.#eof || this.destroyed) return;
    this.#eof = true;
    this.#observer?.(null);
    this.push(null);
  }
}
