// load.ts rate, the benchmarks' in-pod load generator, against a loopback server that answers
// some requests 503 and cuts others off: every request is counted once, and each failure by cause.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const load = join(import.meta.dirname, '../src/load.ts');

describe('load.ts rate', () => {
  let server: http.Server;
  let url: string;
  before(async () => {
    let n = 0;
    server = http.createServer((req, res) => {
      const i = n++;
      if (i % 4 === 1) res.writeHead(503).end();
      else if (i % 4 === 2) req.socket.destroy();
      else res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('counts every request once and names why each failed one failed', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [load, 'rate', url, '--rps', '40', '--seconds', '0.2', '--connections', '1', '--raw']);
    const out = JSON.parse(stdout) as { requests: number; errors: number; failures: Record<string, number>; latencies: number[] };
    assert.equal(out.requests, 8);
    assert.equal(out.errors, 4);
    assert.equal(out.latencies.length, 4, 'the answered ones');
    assert.equal(out.failures['status 503'], 2);
    assert.equal(
      Object.values(out.failures).reduce((a, b) => a + b, 0),
      4,
      JSON.stringify(out.failures),
    );
  });
});
