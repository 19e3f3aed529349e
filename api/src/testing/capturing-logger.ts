// A pino logger whose lines a test reads back as objects, in order: for asserting what a
// component logged (a warning per burst, no access-log line for a refused connection).
import { Writable } from 'node:stream';
import pino from 'pino';

export function capturingLogger(level: pino.Level = 'info'): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
