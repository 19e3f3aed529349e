// Regression: one bad connection (an exception thrown from a socket handler, a promise rejected
// with nobody listening) ended the whole process, and with it every other connection it served.
// runUntilSignal installs a last resort once the binary is ready: the error is logged with its
// object and counted, and the process keeps serving. Opting out restores Node's default (exit).
// A real child process: what is under test is the process surviving.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { positiveIntegerFlag, wholeNumberFlag } from '../src/binary.ts';

const fixture = join(import.meta.dirname, 'last-resort-binary.ts');

interface Child {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  logs: () => Record<string, unknown>[];
}

async function startChild(args: string[] = []): Promise<Child> {
  const proc = spawn(process.execPath, [fixture, ...args], { stdio: 'pipe' });
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let stdout = '';
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.includes('"ready"'));
      if (line !== undefined) resolve(JSON.parse(line));
    });
    proc.once('exit', (code) => reject(new Error(`fixture exited ${code} before ready: ${stderr}`)));
  });
  const logs = (): Record<string, unknown>[] =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  return { proc, port: ready.port as number, logs };
}

/** Sends one line; resolves with what comes back before the server ends the connection. */
function ask(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    socket.once('end', () => resolve(reply.trim()));
    socket.once('error', reject);
    socket.write(`${line}\n`);
  });
}

/** Sends a line that makes the handler fail; the connection is left as it is. */
function provoke(port: number, line: string): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`${line}\n`);
  return socket;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('runUntilSignal: the last resort', function () {
  this.timeout(10_000); // starts a Node process
  let child: Child | undefined;
  afterEach(() => {
    child?.proc.kill('SIGKILL');
    child = undefined;
  });

  it('last_resort: an uncaught exception or unhandled rejection is logged with the error and counted, and the process keeps serving', async () => {
    child = await startChild();
    const bad = provoke(child.port, 'throw');
    await until(() => child!.logs().some((l) => l.event === 'uncaughtException'), 'the uncaught exception to be logged');
    bad.destroy();
    assert.equal(await ask(child.port, 'hello'), 'ok:hello', 'another connection is served');
    assert.equal(await ask(child.port, 'reject'), 'rejected');
    await until(() => child!.logs().some((l) => l.event === 'unhandledRejection'), 'the unhandled rejection to be logged');
    assert.equal(await ask(child.port, 'again'), 'ok:again');

    const logged = child.logs().filter((l) => l.event !== undefined);
    assert.deepEqual(
      logged.map((l) => [l.level, l.event, (l.err as { type?: string; message?: string }).type, (l.err as { message?: string }).message, l.count]),
      [
        [50, 'uncaughtException', 'RangeError', 'boom: thrown from a connection handler', 1],
        [50, 'unhandledRejection', 'TypeError', 'boom: rejected and never handled', 1],
      ],
    );
    assert.ok((logged[0]!.err as { stack?: string }).stack?.includes('last-resort-binary.ts'), 'the stack is logged');
    assert.deepEqual(JSON.parse(await ask(child.port, 'count')), { uncaughtException: 1, unhandledRejection: 1 });

    child.proc.kill('SIGTERM');
    const [code] = await once(child.proc, 'exit');
    assert.equal(code, 0, 'still drains and exits cleanly');
  });

  it('last_resort: opted out, an uncaught exception ends the process as Node does by default', async () => {
    child = await startChild(['--exit-on-uncaught']);
    const exited = once(child.proc, 'exit');
    provoke(child.port, 'throw');
    const [code] = await exited;
    assert.notEqual(code, 0);
    assert.equal(
      child.logs().some((l) => l.event !== undefined),
      false,
    );
  });
});

describe('positiveIntegerFlag', () => {
  const table: [string, number | RegExp][] = [
    ['1', 1],
    ['10000', 10_000],
    ['0', /--max-x must be a whole number of at least 1, got '0'/],
    ['-3', /got '-3'/],
    ['2.5', /got '2.5'/],
    ['', /got ''/],
    ['ten', /got 'ten'/],
  ];
  for (const [value, want] of table) {
    it(`reads '${value}' as ${want}`, () => {
      if (typeof want === 'number') assert.equal(positiveIntegerFlag('max-x', value), want);
      else assert.throws(() => positiveIntegerFlag('max-x', value), want);
    });
  }
});

describe('wholeNumberFlag', () => {
  const table: [string, number | RegExp][] = [
    ['0', 0],
    ['10', 10],
    ['-1', /--trim-x must be a whole number of at least 0, got '-1'/],
    ['0.5', /got '0.5'/],
    ['', /got ''/],
    ['off', /got 'off'/],
  ];
  for (const [value, want] of table) {
    it(`reads '${value}' as ${want}`, () => {
      if (typeof want === 'number') assert.equal(wholeNumberFlag('trim-x', value), want);
      else assert.throws(() => wholeNumberFlag('trim-x', value), want);
    });
  }
});
