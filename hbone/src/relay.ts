// The byte pump between a downstream and an upstream connection, used by both HBONE ends.
// Backpressure: a side is paused while the other's writable buffer is full. Half-close: one
// side's end becomes an end on the other while the reverse direction keeps flowing (streams
// must be created with allowHalfOpen). An error or an early close on either side destroys both.
import { finished, type Duplex } from 'node:stream';

export interface RelayCounters {
  /** Bytes copied downstream → upstream. */
  sent: number;
  /** Bytes copied upstream → downstream. */
  received: number;
}

export interface RelayResult extends RelayCounters {
  /** Set when the relay ended because of an error or a reset rather than both sides ending. */
  error?: Error;
}

export interface RelayOptions {
  /** Live counters (read them for telemetry while the relay runs). */
  counters?: RelayCounters;
  /**
   * Bytes a readable side may hold unread (e.g. data an HTTP/2 peer sent within its window
   * while the destination is slow) before the relay gives up on the pair.
   */
  maxBufferedBytes?: number;
}

/** Copies both ways until both directions have ended or one side fails; never rejects. */
export function relay(downstream: Duplex, upstream: Duplex, options: RelayOptions = {}): Promise<RelayResult> {
  const counters = options.counters ?? { sent: 0, received: 0 };
  const cap = options.maxBufferedBytes ?? Infinity;
  return new Promise((resolve) => {
    let settled = false;
    let open = 2;
    const cleanups: Array<() => void> = [];
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      for (const cleanup of cleanups) cleanup();
      if (error !== undefined) {
        // Without an error argument: the caller already has the error in the result, and an
        // 'error' event emitted after our listeners are gone would crash the process.
        downstream.destroy();
        upstream.destroy();
      }
      const result: RelayResult = { sent: counters.sent, received: counters.received };
      if (error !== undefined) result.error = error;
      resolve(result);
    };
    // Late errors (a reset racing our own destroy) have nobody left to report to.
    downstream.on('error', ignore);
    upstream.on('error', ignore);
    pump(
      downstream,
      upstream,
      (n) => {
        counters.sent += n;
      },
      cap,
      finish,
      cleanups,
    );
    pump(
      upstream,
      downstream,
      (n) => {
        counters.received += n;
      },
      cap,
      finish,
      cleanups,
    );
    for (const side of [downstream, upstream]) {
      cleanups.push(
        finished(side, (err) => {
          if (err) finish(err);
          else if (--open === 0) finish();
        }),
      );
    }
  });
}

function ignore(): void {}

function pump(from: Duplex, to: Duplex, count: (n: number) => void, cap: number, fail: (e: Error) => void, cleanups: Array<() => void>): void {
  const onData = (chunk: Buffer): void => {
    count(chunk.length);
    if (!to.write(chunk)) from.pause();
    if (from.readableLength > cap) fail(new Error(`relay buffered ${from.readableLength} bytes, over the cap of ${cap}`));
  };
  const onDrain = (): void => {
    from.resume();
  };
  const onEnd = (): void => {
    to.end();
  };
  from.on('data', onData);
  from.on('end', onEnd);
  to.on('drain', onDrain);
  cleanups.push(() => {
    from.off('data', onData);
    from.off('end', onEnd);
    to.off('drain', onDrain);
  });
}
