// Regression: istiod-lite's gRPC server had no keepalive, so a proxy that vanished without a FIN
// or RST (its node gone, a NAT that dropped the flow) kept its discovery stream open on the
// server for ever: counted as connected (pilot_xds), pushed to, its state held. The server now
// PINGs and drops a connection whose PING goes unanswered. Real time, small intervals.
import { startSilencingRelay as startRelay } from '@ambient/api/testing';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { createCertificateAuthority } from '@ambient/api';
import { DeltaXdsClient } from '@ambient/api/grpc';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { meshCaFromSelfSignedSecret } from '../../src/ca/ca-keys.ts';
import type { CertificateService } from '../../src/ca/certificate-service.ts';
import { startGrpcServer, type IstiodGrpcServer } from '../../src/grpc-server.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createDiscoveryService, type DiscoveryService } from '../../src/xds/discovery-server.ts';
import { ADDRESS, FixedTokens, until, workload } from './fixtures.ts';
import { MemorySource } from './memory-source.ts';

const noCertificates = {
  handlers: { CreateCertificate: (_call: unknown, done: (err: grpc.ServiceError) => void) => done({ code: grpc.status.UNIMPLEMENTED } as grpc.ServiceError) },
  issue: () => Promise.reject(new Error('not in this test')),
} as unknown as CertificateService;

describe('istiod-lite gRPC server keepalive', function () {
  this.timeout(5000); // real time: grpc-js' own keepalive timers, here 200 ms + 200 ms
  let server: IstiodGrpcServer | undefined;
  let discovery: DiscoveryService | undefined;
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  let client: DeltaXdsClient | undefined;
  afterEach(async () => {
    client?.close();
    await relay?.close();
    discovery?.close();
    await server?.close();
    client = relay = discovery = server = undefined;
  });

  it('keepalive_half_dead: drops the discovery stream of a proxy that went silent', async () => {
    const root = createCertificateAuthority({ commonName: 'istiod keepalive test root' });
    const ca = meshCaFromSelfSignedSecret({ 'ca-cert.pem': root.certPem, 'ca-key.pem': root.keyPem }, 'test');
    const source = new MemorySource();
    source.set(ADDRESS, 'a', workload('a'));
    discovery = createDiscoveryService({
      source,
      authenticator: new FixedTokens(),
      metrics: createMetrics(new Registry()),
      logger: pino({ level: 'silent' }),
      allowTestProxies: true,
    });
    server = await startGrpcServer({
      ca,
      clusterDomain: 'cluster.local',
      host: '127.0.0.1',
      port: 0,
      discovery,
      certificates: noCertificates,
      keepalive: { timeMs: 200, timeoutMs: 200 },
      shutdownGraceMs: 500,
    });
    relay = await startRelay(server.port);
    client = new DeltaXdsClient({
      address: `127.0.0.1:${relay.port}`,
      rootCertPem: ca.rootCertPem,
      token: () => 'ztunnel-a',
      node: { id: 'ztunnel~node-a', type: 'ztunnel', nodeName: 'node-a' },
      subscriptions: [{ typeUrl: ADDRESS }],
    });
    client.start();
    await once(client, 'connected');
    await until('the proxy to be listed', () => discovery!.connections().length === 1);
    relay.drop();
    await until('the server to drop the silent proxy', () => discovery!.connections().length === 0, 3000);
    assert.deepEqual(discovery.connections(), []);
    // grpc-js' graceful shutdown waits for ever on a session destroyed but not yet closed (its
    // keepalive just dropped one): close() bounds the wait, then forces.
    const closing = server.close();
    server = undefined;
    await closing;
  });
});
