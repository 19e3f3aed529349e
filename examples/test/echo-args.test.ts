import assert from 'node:assert/strict';
import { MAX_DATA_BYTES, parseEchoArgs, UsageError } from '../echo/echo-args.ts';

describe('parseEchoArgs', () => {
  it('defaults serve to port 8080 on all IPv4 addresses without TCP echo or gRPC', () => {
    assert.deepEqual(parseEchoArgs(['serve']), { kind: 'serve', port: 8080, host: '0.0.0.0' });
  });

  it('adds the gRPC server on --grpc-port', () => {
    assert.deepEqual(parseEchoArgs(['serve', '--grpc-port', '0', '--tcp-port', '9000']), {
      kind: 'serve',
      port: 8080,
      host: '0.0.0.0',
      tcpPort: 9000,
      grpcPort: 0,
    });
  });

  it('reads --delay and --fail-status, the per-pod behaviours (a slow pod, a broken pod)', () => {
    assert.deepEqual(parseEchoArgs(['serve', '--delay', '50', '--fail-status', '503']), {
      kind: 'serve',
      port: 8080,
      host: '0.0.0.0',
      delayMs: 50,
      failStatus: 503,
    });
    assert.throws(() => parseEchoArgs(['serve', '--fail-status', '99']), UsageError);
    assert.throws(() => parseEchoArgs(['serve', '--delay', '-1']), UsageError);
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

  it('defaults a call to one unpaced GET without a body, one at a time, a line per reply, 120 s for the run', () => {
    const { url, ...rest } = parseEchoArgs(['call', 'http://echo.demo/']) as { url: URL };
    assert.deepEqual(rest, { kind: 'call', method: 'GET', headers: {}, count: 1, timeoutMs: 5000, deadlineMs: 120_000, concurrency: 1, summary: false });
  });

  for (const [flags, expected] of [
    [['--method', 'post'], { method: 'POST' }],
    [['--method', 'DELETE'], { method: 'DELETE' }],
    [['--data', 'hello'], { data: 'hello' }],
    [['--data', ''], { data: '' }],
    [['--rate', '20'], { ratePerSecond: 20 }],
    [['--rate', '0.5'], { ratePerSecond: 0.5 }],
    [['--rate', '10000'], { ratePerSecond: 10_000 }],
    [['--concurrency', '64'], { concurrency: 64 }],
    [['--count', '10000'], { count: 10_000 }],
    [['--deadline', '3600000'], { deadlineMs: 3_600_000 }],
    [['--summary'], { summary: true }],
  ] as const) {
    it(`parses call ${flags.join(' ')}`, () => {
      const command = parseEchoArgs(['call', 'http://echo.demo/', ...flags]) as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(command[key], value, key);
    });
  }

  it('parses grpc say with its defaults', () => {
    assert.deepEqual(parseEchoArgs(['grpc', 'echo.demo:9090', 'say', 'hi']), {
      kind: 'grpc-say',
      target: 'echo.demo:9090',
      message: 'hi',
      count: 1,
      headers: {},
      timeoutMs: 5000,
      deadlineMs: 120_000,
      summary: false,
    });
  });

  it('parses grpc say with flags anywhere, an IPv6 target and metadata', () => {
    assert.deepEqual(
      parseEchoArgs(['grpc', '--summary', '[::1]:9090', 'say', '--count', '20', 'hello there', '--header', 'x-canary:1', '--deadline', '9000']),
      {
        kind: 'grpc-say',
        target: '[::1]:9090',
        message: 'hello there',
        count: 20,
        headers: { 'x-canary': '1' },
        timeoutMs: 5000,
        deadlineMs: 9000,
        summary: true,
      },
    );
  });

  it('parses grpc count', () => {
    assert.deepEqual(parseEchoArgs(['grpc', '10.0.0.1:9090', 'count', '1000', '--timeout', '30000']), {
      kind: 'grpc-count',
      target: '10.0.0.1:9090',
      n: 1000,
      headers: {},
      timeoutMs: 30_000,
    });
  });

  for (const argv of [
    [],
    ['bogus'],
    ['serve', '--port', '70000'],
    ['serve', '--grpc-port', '-1'],
    ['serve', '--nope'],
    ['call'],
    ['call', 'not a url'],
    ['call', 'https://x/'],
    ['call', 'http://x/', '--count', '10001'],
    ['call', 'http://x/', '--count', '0'],
    ['call', 'http://x/', '--header', 'novalue'],
    ['call', 'http://x/', '--timeout', '-5'],
    ['call', 'http://x/', '--method', 'GE T'],
    ['call', 'http://x/', '--method', 'CONNECT'],
    ['call', 'http://x/', '--method', ''],
    ['call', 'http://x/', '--data', 'x'.repeat(MAX_DATA_BYTES + 1)],
    ['call', 'http://x/', '--rate', '0'],
    ['call', 'http://x/', '--rate', '-1'],
    ['call', 'http://x/', '--rate', '1e3'],
    ['call', 'http://x/', '--rate', '10001'],
    ['call', 'http://x/', '--concurrency', '0'],
    ['call', 'http://x/', '--concurrency', '65'],
    ['call', 'http://x/', '--deadline', '0'],
    ['call', 'http://x/', '--deadline', '3600001'],
    ['call', 'http://x/', '--summary=yes'],
    ['grpc'],
    ['grpc', 'echo:9090'],
    ['grpc', 'echo:9090', 'shout', 'hi'],
    ['grpc', 'echo:9090', 'say'],
    ['grpc', 'echo', 'say', 'hi'],
    ['grpc', 'http://echo:9090', 'say', 'hi'],
    ['grpc', 'echo:0', 'say', 'hi'],
    ['grpc', 'echo:70000', 'say', 'hi'],
    ['grpc', 'echo:9090', 'say', 'hi', 'there'],
    ['grpc', 'echo:9090', 'say', 'hi', '--count', '10001'],
    ['grpc', 'echo:9090', 'say', 'x'.repeat(64 * 1024 + 1)],
    ['grpc', 'echo:9090', 'say', 'hi', '--rate', '1'],
    ['grpc', 'echo:9090', 'count'],
    ['grpc', 'echo:9090', 'count', '1001'],
    ['grpc', 'echo:9090', 'count', 'ten'],
    ['grpc', 'echo:9090', 'count', '3', '--summary'],
    ['grpc', 'echo:9090', 'count', '3', '--count', '2'],
    ['grpc', 'echo:9090', 'count', '3', '--deadline', '2'],
  ]) {
    it(`refuses ${JSON.stringify(argv).slice(0, 120)} with a usage error`, () => {
      assert.throws(() => parseEchoArgs(argv), UsageError);
    });
  }
});
