// How the waypoint closes a CONNECT stream it serves: send what is left and the FIN (the HBONE
// relay turns it into END_STREAM), then give the client `lingerMs` to end its side, and cut the
// stream (the relay resets it) if it does not: a stream both sides ended is gone for good,
// while one the client holds open would hold its HBONE stream slot forever.
import type { Duplex } from 'node:stream';
import type { Timers } from '@ambient/api';
import { InboundStreamError } from './inbound-stream-error.ts';

export function endGracefully(stream: Duplex, timers: Timers, lingerMs: number, last?: string): void {
  if (stream.destroyed || stream.writableEnded) return;
  if (last === undefined) stream.end();
  else stream.end(last, 'latin1');
  if (stream.readableEnded) return;
  const timer = timers.setTimeout(() => {
    stream.destroy(new InboundStreamError('ERR_WAYPOINT_LINGER_TIMEOUT', `the client did not end the stream within ${lingerMs} ms of the waypoint ending it`));
  }, lingerMs);
  stream.once('close', () => timers.clearTimeout(timer));
}
