import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { parseEchoArgs, UsageError } from '../echo/echo-args.ts';
import { planResponse } from '../echo/echo-server.ts';

const ECHO = path.join(import.meta.dirname, '..', 'echo', 'echo.ts');
const POD_ENV = { POD_NAME: 'echo-abc', POD_NAMESPACE: 'demo', NODE_NAME: 'node-1', POD_IP: '10.244.1.5' };

interface Spawned {
  child: ChildProcessWithoutNullStreams;
  first: Record<string, unknown>;
  lines: string[];
}

/** Starts `echo serve` and resolves with its first log line (which carries the bound port). */
function spawnServer(args: string[]): Promise<Spawned> {
  const child = spawn(process.execPath, [ECHO, 'serve', ...args], { env: { ...process.env, ...POD_ENV } });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('echo server printed no listening line within 10 s')), 10_000);
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (data: string) => {
      buffered += data;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (lines.length === 1) {
          clearTimeout(deadline);
          resolve({ child, first: JSON.parse(lines[0]!) as Record<string, unknown>, lines });
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`echo server exited early with ${code}`));
    });
  });
}

function runClient(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ECHO, 'call', ...args], { timeout: 20_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, lines: stdout.split('\n').filter((l) => l !== '') });
    });
  });
}

function exited(child: ChildProcessWithoutNullStreams, withinMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${withinMs} ms`)), withinMs);
    child.once('exit', (code) => {
      clearTimeout(deadline);
      resolve(code);
    });
  });
}

describe('echo app', () => {
  describe('planResponse', () => {
    for (const [pathname, plan] of [
      ['/', { kind: 'echo', status: 200, delayMs: 0 }],
      ['/anything/else', { kind: 'echo', status: 200, delayMs: 0 }],
      ['/healthz', { kind: 'health' }],
      ['/status/503', { kind: 'echo', status: 503, delayMs: 0 }],
      ['/delay/10', { kind: 'echo', status: 200, delayMs: 10 }],
      ['/delay/60000', { kind: 'echo', status: 200, delayMs: 60000 }],
    ] as const) {
      it(`plans ${pathname}`, () => assert.deepEqual(planResponse(pathname), plan));
    }
    for (const pathname of ['/status/99', '/status/abc', '/status/600', '/delay/60001', '/delay/-1', '/delay/1e3']) {
      it(`rejects ${pathname} as a bad request`, () => assert.equal(planResponse(pathname).kind, 'bad-request'));
    }
  });

  describe('parseEchoArgs', () => {
    it('defaults serve to port 8080 on all IPv4 addresses without TCP echo', () => {
      assert.deepEqual(parseEchoArgs(['serve']), { kind: 'serve', port: 8080, host: '0.0.0.0' });
    });

    it('parses a call with repeated headers', () => {
      const command = parseEchoArgs(['call', 'http://echo.demo/x', '--count', '3', '--header', 'X-A: 1', '--header', 'x-b:2']);
      assert.equal(command.kind, 'call');
      if (command.kind !== 'call') return;
      assert.equal(command.url.href, 'http://echo.demo/x');
      assert.equal(command.count, 3);
      assert.deepEqual(command.headers, { 'x-a': '1', 'x-b': '2' });
      assert.equal(command.timeoutMs, 5000);
    });

    for (const argv of [
      [],
      ['bogus'],
      ['serve', '--port', '70000'],
      ['serve', '--nope'],
      ['call'],
      ['call', 'not a url'],
      ['call', 'https://x/'],
      ['call', 'http://x/', '--count', '1001'],
      ['call', 'http://x/', '--count', '0'],
      ['call', 'http://x/', '--header', 'novalue'],
      ['call', 'http://x/', '--timeout', '-5'],
    ]) {
      it(`refuses ${JSON.stringify(argv)} with a usage error`, () => {
        assert.throws(() => parseEchoArgs(argv), UsageError);
      });
    }
  });

  describe('serve and call, as processes', () => {
    let server: Spawned | undefined;
    let base = '';

    before(async () => {
      server = await spawnServer(['--port', '0', '--tcp-port', '0', '--host', '127.0.0.1']);
      assert.equal(server.first.msg, 'listening');
      assert.ok(typeof server.first.port === 'number' && server.first.port > 0, JSON.stringify(server.first));
      base = `http://127.0.0.1:${server.first.port}`;
    });

    after(() => {
      if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    });

    it('answers / with the pod, the request and its headers', async () => {
      const res = await fetch(`${base}/?q=1`, { headers: { 'x-test': 'hello' } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.pod, 'echo-abc');
      assert.equal(body.namespace, 'demo');
      assert.equal(body.node, 'node-1');
      assert.equal(body.podIp, '10.244.1.5');
      assert.equal(body.method, 'GET');
      assert.equal(body.url, '/?q=1');
      assert.equal((body.headers as Record<string, string>)['x-test'], 'hello');
      assert.equal(body.remoteAddress, '127.0.0.1');
    });

    it('answers /status/503 with 503', async () => {
      const res = await fetch(`${base}/status/503`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as Record<string, unknown>).url, '/status/503');
    });

    it('holds a /delay/<ms> response while answering other requests (no wall-clock assertion)', async () => {
      const ac = new AbortController();
      let delayedAnswered = false;
      const delayed = fetch(`${base}/delay/60000`, { signal: ac.signal }).then(
        () => {
          delayedAnswered = true;
        },
        () => undefined,
      );
      const quick = await fetch(`${base}/healthz`);
      assert.equal(quick.status, 200);
      assert.equal(delayedAnswered, false, 'the delayed request is still held');
      ac.abort();
      await delayed;
      const short = await fetch(`${base}/delay/1`);
      assert.equal(short.status, 200);
    });

    it('refuses a delay above the limit with 400', async () => {
      const res = await fetch(`${base}/delay/600000`);
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, /600000/);
    });

    it('answers /healthz with ok', async () => {
      const res = await fetch(`${base}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok\n');
    });

    it('echoes raw TCP on --tcp-port', async () => {
      const port = server!.first.tcpPort as number;
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.end('ping\n'));
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => {
          data += d;
        });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      assert.equal(reply, 'ping\n');
    });

    it('logs one JSON line per request', async () => {
      await (await fetch(`${base}/logged-path`)).arrayBuffer();
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !server!.lines.some((l) => l.includes('/logged-path'))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const line = server!.lines.find((l) => l.includes('/logged-path'));
      assert.ok(line, 'no log line for /logged-path');
      assert.deepEqual((({ msg, method, url, status }) => ({ msg, method, url, status }))(JSON.parse(line) as Record<string, unknown>), {
        msg: 'request',
        method: 'GET',
        url: '/logged-path',
        status: 200,
      });
    });

    it('call --count 3 prints three JSON lines and exits 0 when all answer 2xx', async () => {
      const { code, lines } = await runClient([`${base}/hello`, '--count', '3', '--header', 'x-from:test']);
      assert.equal(code, 0);
      assert.equal(lines.length, 3);
      lines.forEach((line, i) => {
        const result = JSON.parse(line) as { request: number; status: number; body: { headers: Record<string, string> } };
        assert.equal(result.request, i + 1);
        assert.equal(result.status, 200);
        assert.equal(result.body.headers['x-from'], 'test');
      });
    });

    it('call exits 1 when a response is not 2xx', async () => {
      const { code, lines } = await runClient([`${base}/status/500`]);
      assert.equal(code, 1);
      assert.equal((JSON.parse(lines[0]!) as { status: number }).status, 500);
    });

    it('call exits 1 with an error line when nothing listens', async () => {
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as net.AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const { code, lines } = await runClient([`http://127.0.0.1:${port}/`, '--timeout', '2000']);
      assert.equal(code, 1);
      assert.match((JSON.parse(lines[0]!) as { error: string }).error, /ECONNREFUSED/);
    });

    it('call exits 2 on bad usage', async () => {
      assert.equal((await runClient(['--count', 'x'])).code, 2);
    });

    it('exits 0 on SIGTERM', async () => {
      server!.child.kill('SIGTERM');
      assert.equal(await exited(server!.child, 10_000), 0);
      assert.ok(server!.lines.some((l) => l.includes('"shutting down"')));
    });
  });
});
