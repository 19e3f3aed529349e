// Regression: the discovery stream had no keepalive. A discovery stream can be silent for hours
// (nothing changes), so when the path to istiod died without a FIN or RST (a node gone, a NAT or
// load balancer that dropped the flow) the proxy never learnt it was cut off: no error, no
// reconnect, its configuration frozen. HTTP/2 PINGs with a deadline notice it.
import { startSilencingRelay as startRelay } from '../../src/testing/silencing-relay.ts';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../src/testing/fake-clock.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/pki.ts';
import { aggregatedDiscoveryServiceDefinition } from '../../src/grpc-protos.ts';
import type { XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse } from '../../src/grpc-protos.ts';
import { DeltaXdsClient } from '../../src/xds/delta-client.ts';
import {
  discoveryClientKeepaliveOptions,
  discoveryKeepalive,
  discoveryMinPingIntervalMs,
  discoveryServerKeepaliveOptions,
} from '../../src/xds/discovery-keepalive.ts';

const TYPE = 'type.googleapis.com/ambient.workload.v1.Address';

/** A discovery server that answers each new subscription with an empty response. */
async function startServer(ca: { certPem: string; keyPem: string }): Promise<{ port: number; streams: () => number; close: () => void }> {
  const cert = issueCertificate({ ca, commonName: 'istiod', dnsNames: ['istiod.istio-system.svc'] });
  const server = new grpc.Server();
  let streams = 0;
  let nonce = 0;
  server.addService(aggregatedDiscoveryServiceDefinition, {
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>) => {
      streams++;
      call.on('data', (request: XdsDeltaDiscoveryRequest) => {
        if (request.responseNonce) return; // an ACK
        call.write({ typeUrl: request.typeUrl ?? '', resources: [], removedResources: [], nonce: String(++nonce) });
      });
      call.on('error', () => {});
    },
  });
  const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(cert.keyPem), cert_chain: Buffer.from(cert.certPem) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { port, streams: () => streams, close: () => server.forceShutdown() };
}

describe('discovery stream keepalive', () => {
  it('pings no more often than a discovery server permits, without calls too, and never stops for want of data', () => {
    const client = discoveryClientKeepaliveOptions();
    const server = discoveryServerKeepaliveOptions();
    assert.equal(client['grpc.keepalive_time_ms'], discoveryKeepalive.timeMs);
    assert.equal(client['grpc.keepalive_timeout_ms'], discoveryKeepalive.timeoutMs);
    assert.equal(client['grpc.keepalive_permit_without_calls'], 1);
    assert.equal(client['grpc.http2.max_pings_without_data'], 0);
    // A server that enforces a ping policy (C-core, Go: Istio's istiod) GOAWAYs a client pinging
    // more often than its minimum interval with ENHANCE_YOUR_CALM "too_many_pings".
    assert.equal(server['grpc.http2.min_ping_interval_without_data_ms'], discoveryMinPingIntervalMs);
    assert.ok(discoveryKeepalive.timeMs >= discoveryMinPingIntervalMs);
    assert.equal(server['grpc.http2.max_pings_without_data'], 0);
    assert.equal(server['grpc.keepalive_time_ms'], discoveryKeepalive.timeMs);
    assert.equal(server['grpc.keepalive_timeout_ms'], discoveryKeepalive.timeoutMs);
  });

  describe('a half-dead connection', function () {
    this.timeout(5000); // real time: keepalive is grpc-js' own timers, here 200 ms + 200 ms
    const ca = createCertificateAuthority({ commonName: 'keepalive test root' });
    let server: Awaited<ReturnType<typeof startServer>> | undefined;
    let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
    let client: DeltaXdsClient | undefined;
    afterEach(async () => {
      client?.close();
      await relay?.close();
      server?.close();
      client = relay = server = undefined;
    });

    it('keepalive_half_dead: a client whose server goes silent notices within the keepalive time and timeout, and reconnects', async () => {
      server = await startServer(ca);
      relay = await startRelay(server.port);
      const clock = new FakeClock(0);
      client = new DeltaXdsClient({
        address: `127.0.0.1:${relay.port}`,
        rootCertPem: ca.certPem,
        token: () => 't',
        node: { type: 'test' },
        subscriptions: [{ typeUrl: TYPE }],
        keepalive: { timeMs: 200, timeoutMs: 200 },
        backoff: { random: () => 0.5 },
        timers: clock.timers,
      });
      client.start();
      await once(client, 'connected');
      relay.drop();
      const [disconnect] = await once(client, 'disconnected');
      assert.equal(disconnect.code, grpc.status.UNAVAILABLE);
      assert.equal(client.connected, false);
      const reconnected = once(client, 'connected');
      clock.advance(1000); // the reconnect back-off
      await reconnected;
      assert.equal(server.streams(), 2);
    });
  });
});
