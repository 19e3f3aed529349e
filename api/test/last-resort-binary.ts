// A binary for binary.test.ts: a line server run by runUntilSignal. Per connection, a line of
// `throw` throws from the socket's data handler (an uncaught exception), `reject` leaves a
// rejected promise unhandled, `count` answers what the binary's onUncaught hook has counted,
// anything else is echoed back as `ok:<line>`. `--exit-on-uncaught` opts out of the last resort.
import net from 'node:net';
import pino from 'pino';
import { runUntilSignal } from '../src/binary.ts';

const counts: Record<string, number> = {};
const logger = pino({ level: 'info' }, pino.destination(2));
const exitOnUncaught = process.argv.includes('--exit-on-uncaught');

await runUntilSignal(
  'last-resort-fixture',
  logger,
  async () => {
    const server = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        const line = chunk.toString().trim();
        if (line === 'throw') throw new RangeError('boom: thrown from a connection handler');
        if (line === 'reject') {
          void Promise.reject(new TypeError('boom: rejected and never handled'));
          socket.end('rejected\n');
          return;
        }
        if (line === 'count') return void socket.end(`${JSON.stringify(counts)}\n`);
        socket.end(`ok:${line}\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      ready: { port: (server.address() as net.AddressInfo).port },
      stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
      onUncaught: (event) => {
        counts[event] = (counts[event] ?? 0) + 1;
      },
    };
  },
  exitOnUncaught ? { keepServingOnUncaught: false } : {},
);
