// The kubelet's probe programs against real loopback sockets (the netns around them is the
// e2e tests' business): a 2xx or 3xx passes, anything else, a refused port or a bad path fails.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeCommand } from '../../src/kubelet/probe.ts';

describe('kubelet probes', () => {
  let server: http.Server;
  let port: number;
  const seen: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['user-agent']}`);
      const status = req.url === '/healthz/ready' ? 200 : req.url === '/moved' ? 302 : 503;
      res.writeHead(status, { 'content-length': '0' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  // Asynchronous: the server answering lives in this process.
  const passes = (command: string[] | undefined): Promise<boolean> =>
    new Promise((resolve) => spawn(command![0]!, command!.slice(1), { timeout: 5_000, stdio: 'ignore' }).once('exit', (code) => resolve(code === 0)));

  it('httpGet passes on 200 and 302, fails on 503, sending GET with the path as kube-probe', async () => {
    assert.equal(await passes(probeCommand({ httpGet: { path: '/healthz/ready', port } }, '127.0.0.1')), true);
    assert.equal(await passes(probeCommand({ httpGet: { path: '/moved', port } }, '127.0.0.1')), true);
    assert.equal(await passes(probeCommand({ httpGet: { path: '/down', port } }, '127.0.0.1')), false);
    assert.ok(seen.includes('GET /healthz/ready kube-probe/1.34'), seen.join('\n'));
  });

  it('httpGet and tcpSocket fail on a port nothing listens on', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    assert.equal(await passes(probeCommand({ httpGet: { path: '/', port: free } }, '127.0.0.1')), false);
    assert.equal(await passes(probeCommand({ tcpSocket: { port: free } }, '127.0.0.1')), false);
    assert.equal(await passes(probeCommand({ tcpSocket: { port } }, '127.0.0.1')), true);
  });

  it('refuses a path that would escape the probe program, and a port that is not a number', () => {
    assert.throws(() => probeCommand({ httpGet: { path: "/x' ; touch /tmp/owned; '", port } }, '127.0.0.1'), /not supported/);
    assert.throws(() => probeCommand({ httpGet: { path: '/', port: 'status-port' } }, '127.0.0.1'), /not a port number/);
  });

  it('runs an exec probe as given, and skips a kind it does not run', () => {
    assert.deepEqual(probeCommand({ exec: { command: ['true'] } }, '10.0.0.1'), ['true']);
    assert.equal(probeCommand({ grpc: { port: 1 } }, '10.0.0.1'), undefined);
  });
});
