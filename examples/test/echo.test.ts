import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { EchoClient } from '../echo/echo-grpc-proto.ts';
import { planResponse, podInfoFromEnv, startEchoServer } from '../echo/echo-server.ts';

const ECHO = path.join(import.meta.dirname, '..', 'echo', 'echo.ts');
const POD_ENV = { POD_NAME: 'echo-abc', POD_NAMESPACE: 'demo', NODE_NAME: 'node-1', POD_IP: '10.244.1.5', VERSION: 'v1' };

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

interface Run {
  code: number | null;
  lines: string[];
  stderr: string;
}

function runEcho(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ECHO, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, lines: stdout.split('\n').filter((l) => l !== ''), stderr });
    });
  });
}

const runClient = (args: string[]): Promise<Run> => runEcho(['call', ...args]);
const json = (line: string | undefined): any => JSON.parse(line ?? 'null');

/** A loopback port nothing listens on (just released). */
async function closedPort(): Promise<number> {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  return port;
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
      ['/fail/50', { kind: 'fail', percent: 50, status: 503 }],
      ['/fail/0/', { kind: 'fail', percent: 0, status: 503 }],
      ['/fail/50/', { kind: 'fail', percent: 50, status: 503 }],
      ['/fail/100/500', { kind: 'fail', percent: 100, status: 500 }],
      ['/fail/25/429/', { kind: 'fail', percent: 25, status: 429 }],
      ['/stats', { kind: 'stats' }],
      ['/stats/reset', { kind: 'stats-reset' }],
      ['/statsx', { kind: 'echo', status: 200, delayMs: 0 }],
    ] as const) {
      it(`plans ${pathname}`, () => assert.deepEqual(planResponse(pathname), plan));
    }
    for (const pathname of [
      '/status/99',
      '/status/abc',
      '/status/600',
      '/delay/60001',
      '/delay/-1',
      '/delay/1e3',
      '/fail/101',
      '/fail/',
      '/fail/-1',
      '/fail/50/99',
      '/fail/50/abc',
      '/fail/50/503/x',
    ]) {
      it(`rejects ${pathname} as a bad request`, () => assert.equal(planResponse(pathname).kind, 'bad-request'));
    }
  });

  it('serve --fail-status answers every echo with that status, but not its own endpoints', async () => {
    const server = await startEchoServer({ port: 0, host: '127.0.0.1', failStatus: 503, pod: podInfoFromEnv({}), log: () => undefined });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      assert.deepEqual(
        await Promise.all(
          ['/', '/status/201', '/fail/0', '/healthz', '/stats'].map(async (p) => {
            const r = await fetch(base + p);
            await r.arrayBuffer();
            return r.status;
          }),
        ),
        [503, 503, 503, 200, 200],
      );
    } finally {
      await server.close();
    }
  });

  describe('serve and call, as processes', () => {
    let server: Spawned | undefined;
    let base = '';

    before(async () => {
      server = await spawnServer(['--port', '0', '--tcp-port', '0', '--grpc-port', '0', '--host', '127.0.0.1']);
      assert.equal(server.first.msg, 'listening');
      assert.ok(typeof server.first.port === 'number' && server.first.port > 0, JSON.stringify(server.first));
      base = `http://127.0.0.1:${server.first.port}`;
    });

    after(() => {
      if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    });

    const resetStats = async (): Promise<void> => assert.equal((await fetch(`${base}/stats/reset`, { method: 'POST' })).status, 200);
    const stats = async (): Promise<any> => (await fetch(`${base}/stats`)).json();

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
      assert.equal(body.version, 'v1');
      assert.equal(body.host, `127.0.0.1:${server!.first.port}`);
      assert.equal(body.bodyBytes, 0);
    });

    it('echoes the method and the count of body bytes received', async () => {
      const res = await fetch(`${base}/upload`, { method: 'PUT', body: 'x'.repeat(70_000) });
      const body = (await res.json()) as Record<string, unknown>;
      assert.deepEqual([res.status, body.method, body.bodyBytes], [200, 'PUT', 70_000]);
    });

    it('fails /fail/50 every other request, starting with a success, and /fail/100/500 always', async () => {
      await resetStats();
      const statuses = async (path: string, n: number): Promise<number[]> => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const res = await fetch(`${base}${path}`);
          await res.arrayBuffer();
          out.push(res.status);
        }
        return out;
      };
      assert.deepEqual(await statuses('/fail/50', 3), [200, 503, 200]);
      assert.deepEqual(await statuses('/fail/100/500', 2), [500, 500]);
      assert.deepEqual(await statuses('/fail/0', 2), [200, 200]);
      // Same percent, other code and a query: the same counter, which the 100% calls did not move.
      assert.deepEqual(await statuses('/fail/50/429?x=1', 3), [429, 200, 429]);
    });

    it('counts the requests that reached it by first path segment, not its own endpoints, until reset', async () => {
      await resetStats();
      for (const p of ['/a', '/a/1', '/a/2?q', '/b', '/healthz', '/stats']) await (await fetch(`${base}${p}`)).arrayBuffer();
      assert.deepEqual(await stats(), { pod: 'echo-abc', version: 'v1', requests: 4, byPath: { a: 3, b: 1 } });
      const reset = await fetch(`${base}/stats/reset`, { method: 'POST' });
      assert.deepEqual(await reset.json(), { pod: 'echo-abc', version: 'v1', requests: 4, byPath: { a: 3, b: 1 } }, 'reset answers what it cleared');
      assert.deepEqual(await stats(), { pod: 'echo-abc', version: 'v1', requests: 0, byPath: {} });
    });

    it('answers 405 to /stats/reset without POST and leaves the counts alone', async () => {
      await resetStats();
      await (await fetch(`${base}/a`)).arrayBuffer();
      const res = await fetch(`${base}/stats/reset`);
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      assert.equal((await stats()).requests, 1);
    });

    it('call --summary folds many concurrent calls into one line and exits 0 whatever the statuses', async () => {
      await resetStats();
      const { code, lines } = await runClient([`${base}/fail/50`, '--count', '20', '--concurrency', '4', '--summary']);
      assert.equal(code, 0);
      assert.equal(lines.length, 1);
      const summary = json(lines[0]);
      assert.deepEqual(
        { sent: summary.sent, byStatus: summary.byStatus, byVersion: summary.byVersion, byPod: summary.byPod, errors: summary.errors },
        { sent: 20, byStatus: { '200': 10, '503': 10 }, byVersion: { v1: 20 }, byPod: { 'echo-abc': 20 }, errors: 0 },
      );
      assert.ok(summary.p50Ms > 0 && summary.p50Ms <= summary.p90Ms && summary.p90Ms <= summary.p99Ms, lines[0]);
      assert.deepEqual((await stats()).byPath, { fail: 20 });
    });

    it('call sends --method, --data and a Host header, which the reply echoes', async () => {
      const { code, lines } = await runClient([`${base}/post`, '--method', 'post', '--data', 'héllo', '--header', 'host: echo.demo']);
      assert.equal(code, 0);
      const { body } = json(lines[0]);
      assert.deepEqual([body.method, body.bodyBytes, body.headers['content-length'], body.host], ['POST', 6, '6', 'echo.demo']);
    });

    it('call exits 1 when the --deadline passes before every reply arrived', async () => {
      const { code, lines, stderr } = await runClient([`${base}/delay/60000`, '--count', '3', '--deadline', '300', '--timeout', '10000', '--summary']);
      assert.equal(code, 1);
      assert.deepEqual((({ sent, errors, byStatus }) => ({ sent, errors, byStatus }))(json(lines[0])), { sent: 1, errors: 1, byStatus: {} });
      assert.match(stderr, /--deadline of 300 ms passed after 1 of 3/);
    });

    it('grpc say answers with the message, pod and version, one line per call', async () => {
      const { code, lines } = await runEcho(['grpc', `127.0.0.1:${server!.first.grpcPort}`, 'say', 'hi', '--count', '3', '--header', 'x-from:test']);
      assert.equal(code, 0, lines.join('\n'));
      assert.deepEqual(
        lines.map((l) => (({ request, code, message, pod, version }) => ({ request, code, message, pod, version }))(json(l))),
        [1, 2, 3].map((request) => ({ request, code: 'OK', message: 'hi', pod: 'echo-abc', version: 'v1' })),
      );
    });

    it('grpc say --summary counts codes and versions; the calls show in /stats', async () => {
      await resetStats();
      const { code, lines } = await runEcho(['grpc', `127.0.0.1:${server!.first.grpcPort}`, 'say', 'hi', '--count', '5', '--summary']);
      assert.equal(code, 0);
      const { sent, byCode, byVersion, errors } = json(lines[0]);
      assert.deepEqual({ sent, byCode, byVersion, errors }, { sent: 5, byCode: { OK: 5 }, byVersion: { v1: 5 }, errors: 0 });
      assert.deepEqual((await stats()).byPath, { 'ambient.echo.v1.Echo': 5 });
    });

    it('grpc count streams n replies, then the status', async () => {
      const { code, lines } = await runEcho(['grpc', `127.0.0.1:${server!.first.grpcPort}`, 'count', '4']);
      assert.equal(code, 0);
      assert.deepEqual(lines.map(json), [
        { i: 0, pod: 'echo-abc' },
        { i: 1, pod: 'echo-abc' },
        { i: 2, pod: 'echo-abc' },
        { i: 3, pod: 'echo-abc' },
        { code: 'OK', received: 4 },
      ]);
    });

    it('the gRPC server refuses a Count above 1000 with INVALID_ARGUMENT, whoever asks', async () => {
      const client = new EchoClient(`127.0.0.1:${server!.first.grpcPort}`, grpc.credentials.createInsecure());
      try {
        const status = await new Promise<grpc.StatusObject>((resolve) => {
          const call = (client as any).Count({ n: 1001 }) as grpc.ClientReadableStream<unknown>;
          call.on('data', () => assert.fail('no reply expected'));
          call.on('error', () => undefined);
          call.on('status', resolve);
        });
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
        assert.match(status.details, /1001/);
      } finally {
        client.close();
      }
    });

    it('grpc exits 1 with the code when nothing listens', async () => {
      const port = await closedPort();
      const say = await runEcho(['grpc', `127.0.0.1:${port}`, 'say', 'hi', '--timeout', '2000']);
      assert.equal(say.code, 1);
      assert.equal(json(say.lines[0]).code, 'UNAVAILABLE');
      const count = await runEcho(['grpc', `127.0.0.1:${port}`, 'count', '2', '--timeout', '2000']);
      assert.equal(count.code, 1);
      assert.deepEqual((({ code, received }) => ({ code, received }))(json(count.lines[0])), { code: 'UNAVAILABLE', received: 0 });
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

    it('call exits 0 when a response is not 2xx: it arrived', async () => {
      const { code, lines } = await runClient([`${base}/status/500`]);
      assert.equal(code, 0);
      assert.equal((JSON.parse(lines[0]!) as { status: number }).status, 500);
    });

    it('call exits 1 with an error line when nothing listens', async () => {
      const { code, lines } = await runClient([`http://127.0.0.1:${await closedPort()}/`, '--timeout', '2000']);
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
