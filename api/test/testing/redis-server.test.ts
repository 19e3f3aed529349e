import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { type RedisServer, RedisServerError, startRedisServer } from '../../src/testing/index.ts';

/** One inline command over a fresh connection: the reply's first `lines` lines, or the socket error's code. */
function command(port: number, line: string, onSent?: () => void, lines = 1): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.on('connect', () => {
      socket.write(`${line}\r\n`);
      onSent?.();
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const got = reply.split('\r\n');
      if (got.length > lines) {
        socket.destroy();
        resolve(got.slice(0, lines).join(' '));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('startRedisServer', () => {
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  it('serves on 127.0.0.1 with persistence off', async () => {
    redis = await startRedisServer();
    assert.equal(redis.address, `127.0.0.1:${redis.port}`);
    assert.equal(await command(redis.port, 'PING'), '+PONG');
    assert.equal(await command(redis.port, 'CONFIG GET appendonly', undefined, 5), '*2 $10 appendonly $2 no');
    assert.equal(await command(redis.port, 'CONFIG GET save', undefined, 5), '*2 $4 save $0 ');
    assert.equal(await command(redis.port, 'SET k v'), '+OK');
  });

  it('kill() crashes it (connections refused), restart() brings it back empty on the same port', async () => {
    redis = await startRedisServer();
    await command(redis.port, 'SET k v');
    await redis.kill();
    assert.equal(redis.running, false);
    assert.equal(await command(redis.port, 'PING'), 'ECONNREFUSED');
    await redis.restart();
    assert.equal(redis.running, true);
    assert.equal(await command(redis.port, 'PING'), '+PONG');
    assert.equal(await command(redis.port, 'EXISTS k'), ':0');
  });

  it('pause() holds a reply until resume()', async () => {
    redis = await startRedisServer();
    const r = redis;
    r.pause();
    // The kernel accepts the connection; the reply can only come after SIGCONT.
    const reply = command(r.port, 'PING', () => r.resume());
    assert.equal(await reply, '+PONG');
  });

  it('stop() is idempotent and restart() works after it', async () => {
    redis = await startRedisServer();
    await redis.stop();
    await redis.stop();
    await redis.restart();
    assert.equal(await command(redis.port, 'PING'), '+PONG');
  });

  it('fails with a clear error when the binary is missing', async () => {
    await assert.rejects(startRedisServer({ binary: 'redis-server-that-is-not-installed' }), (err: unknown) => {
      assert.ok(err instanceof RedisServerError);
      assert.equal(err.code, 'ERR_TEST_REDIS_SERVER');
      assert.match(err.message, /redis-server-that-is-not-installed not found on PATH: install Redis/);
      return true;
    });
  });
});
