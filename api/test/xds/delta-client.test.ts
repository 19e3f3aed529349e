import assert from 'node:assert/strict';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createCertificateAuthority } from '../../src/pki.ts';
import { DeltaXdsClient } from '../../src/xds/delta-client.ts';
import type { XdsDisconnect } from '../../src/xds/delta-client.ts';
import type { Timers } from '../../src/timers.ts';

interface Scheduled {
  fn: () => void;
  ms: number;
  cleared: boolean;
}

class FakeTimers implements Timers {
  readonly scheduled: Scheduled[] = [];
  setTimeout(fn: () => void, ms: number): unknown {
    const s = { fn, ms, cleared: false };
    this.scheduled.push(s);
    return s;
  }
  clearTimeout(handle: unknown): void {
    (handle as Scheduled).cleared = true;
  }
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('DeltaXdsClient', () => {
  const ca = createCertificateAuthority({ commonName: 'client test root' });
  let client: DeltaXdsClient | undefined;

  afterEach(() => {
    client?.close();
    client = undefined;
  });

  it('reconnects with growing backoff, reading the token each time, until closed', async () => {
    const timers = new FakeTimers();
    const disconnects: XdsDisconnect[] = [];
    let tokenReads = 0;
    client = new DeltaXdsClient({
      address: `127.0.0.1:${await closedPort()}`,
      rootCertPem: ca.certPem,
      token: () => `t${++tokenReads}`,
      node: { type: 'test' },
      subscriptions: [{ typeUrl: 'type.googleapis.com/ambient.workload.v1.Address' }],
      backoff: { random: () => 0.5 },
      timers,
    });
    client.on('disconnected', (d) => disconnects.push(d));
    client.start();
    await until('first failure', () => timers.scheduled.length === 1);
    assert.equal(disconnects[0]!.code, grpc.status.UNAVAILABLE);
    assert.equal(timers.scheduled[0]!.ms, 1000);
    timers.scheduled[0]!.fn();
    await until('second failure', () => timers.scheduled.length === 2);
    assert.equal(timers.scheduled[1]!.ms, 1600);
    assert.equal(tokenReads, 2);
    assert.equal(client.connected, false);
    client.close();
    assert.equal(timers.scheduled[1]!.cleared, true);
  });

  it('reports a token that cannot be read as UNAUTHENTICATED and retries', async () => {
    const timers = new FakeTimers();
    const disconnects: XdsDisconnect[] = [];
    client = new DeltaXdsClient({
      address: `127.0.0.1:${await closedPort()}`,
      rootCertPem: ca.certPem,
      token: () => {
        throw new Error('ENOENT: /var/run/secrets/tokens/istio-token');
      },
      node: { type: 'test' },
      subscriptions: [{ typeUrl: 'type.googleapis.com/ambient.workload.v1.Address' }],
      timers,
    });
    client.on('disconnected', (d) => disconnects.push(d));
    client.start();
    await until('failure', () => disconnects.length === 1);
    assert.equal(disconnects[0]!.code, grpc.status.UNAUTHENTICATED);
    assert.match(disconnects[0]!.details, /cannot read token: ENOENT/);
    assert.equal(timers.scheduled.length, 1);
  });

  it('needs at least one subscription', () => {
    assert.throws(
      () => new DeltaXdsClient({ address: 'x:1', rootCertPem: ca.certPem, token: () => '', node: {}, subscriptions: [] }),
      /at least one subscription/,
    );
  });
});
