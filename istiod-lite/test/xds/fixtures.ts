// A TLS discovery server on 127.0.0.1:0 around a MemorySource and a fixed-token authenticator.
import * as grpc from '@grpc/grpc-js';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { aggregatedDiscoveryServiceDefinition, DeltaXdsClient } from '@ambient/api/grpc';
import type { KeyCertPair } from '@ambient/api';
import type { DeltaXdsClientOptions, XdsUpdate } from '@ambient/api/grpc';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { UnauthenticatedError } from '../../src/auth/caller.ts';
import type { Authenticator, Caller } from '../../src/auth/caller.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { IstiodMetrics } from '../../src/metrics.ts';
import { createDiscoveryService } from '../../src/xds/discovery-server.ts';
import type { DiscoveryService } from '../../src/xds/discovery-server.ts';
import { typeUrls } from '@ambient/api';
import { MemorySource } from './memory-source.ts';

export const ADDRESS = typeUrls.address;

export const callers: Record<string, Caller> = {
  'ztunnel-a': {
    username: 'system:serviceaccount:istio-system:ztunnel',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    podName: 'ztunnel-a',
    nodeName: 'node-a',
  },
  'ztunnel-b': {
    username: 'system:serviceaccount:istio-system:ztunnel',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    podName: 'ztunnel-b',
    nodeName: 'node-b',
  },
  web: { username: 'system:serviceaccount:default:web', namespace: 'default', serviceAccount: 'web' },
  tester: { username: 'system:serviceaccount:istio-system:tester', namespace: 'istio-system', serviceAccount: 'tester' },
};

export class FixedTokens implements Authenticator {
  async authenticate(token: string): Promise<Caller> {
    const caller = callers[token];
    if (caller === undefined) throw new UnauthenticatedError(`token ${token.slice(0, 8)}… is not valid`);
    return caller;
  }
}

let tlsCache: { ca: KeyCertPair; server: KeyCertPair } | undefined;
export function testTls(): { ca: KeyCertPair; server: KeyCertPair } {
  if (tlsCache === undefined) {
    const ca = createCertificateAuthority({ commonName: 'xds test root' });
    tlsCache = { ca, server: issueCertificate({ ca, commonName: 'istiod', dnsNames: ['istiod.istio-system.svc'] }) };
  }
  return tlsCache;
}

export interface Harness {
  source: MemorySource;
  metrics: IstiodMetrics;
  service: DiscoveryService;
  server: grpc.Server;
  port: number;
  clients: DeltaXdsClient[];
  client(opts?: Partial<DeltaXdsClientOptions>): DeltaXdsClient;
  /** Replaces the gRPC server (same port, same source): connected proxies are cut off. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function listen(service: DiscoveryService, port: number): Promise<{ server: grpc.Server; port: number }> {
  const { server: cert } = testTls();
  const server = new grpc.Server();
  server.addService(aggregatedDiscoveryServiceDefinition, service.handlers);
  const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(cert.keyPem), cert_chain: Buffer.from(cert.certPem) }], false);
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port: bound };
}

export async function startHarness(
  opts: { debounceMs?: number; source?: MemorySource; maxStreamsPerCaller?: number; maxPushBytesInFlight?: number; pushStallMs?: number } = {},
): Promise<Harness> {
  const source = opts.source ?? new MemorySource();
  const metrics = createMetrics(new Registry());
  const make = (): DiscoveryService =>
    createDiscoveryService({
      source,
      authenticator: new FixedTokens(),
      metrics,
      logger: pino({ level: 'silent' }),
      debounceMs: opts.debounceMs ?? 10,
      allowTestProxies: true,
      ...(opts.maxStreamsPerCaller !== undefined ? { maxStreamsPerCaller: opts.maxStreamsPerCaller } : {}),
      ...(opts.maxPushBytesInFlight !== undefined ? { maxPushBytesInFlight: opts.maxPushBytesInFlight } : {}),
      ...(opts.pushStallMs !== undefined ? { pushStallMs: opts.pushStallMs } : {}),
    });
  let service = make();
  let { server, port } = await listen(service, 0);
  const h: Harness = {
    source,
    metrics,
    service,
    server,
    port,
    clients: [],
    client(o = {}) {
      const c = new DeltaXdsClient({
        address: `127.0.0.1:${port}`,
        rootCertPem: testTls().ca.certPem,
        token: () => 'ztunnel-a',
        node: { id: 'ztunnel~node-a', type: 'ztunnel', nodeName: 'node-a' },
        subscriptions: [{ typeUrl: ADDRESS }],
        backoff: { initialMs: 20, maxMs: 100 },
        ...o,
      });
      h.clients.push(c);
      return c;
    },
    async restart() {
      service.close();
      server.forceShutdown();
      service = make();
      ({ server } = await listen(service, port));
      h.service = service;
      h.server = server;
    },
    async close() {
      for (const c of h.clients) c.close();
      service.close();
      server.forceShutdown();
    },
  };
  return h;
}

/** Polls until the predicate holds; fails after the deadline. */
export async function until(what: string, predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects a client's updates from now on. */
export function record(client: DeltaXdsClient): XdsUpdate[] {
  const updates: XdsUpdate[] = [];
  client.on('update', (u) => updates.push(u));
  return updates;
}

export function workload(name: string, extra: object = {}): object {
  return { workload: { uid: `uid-${name}`, name, namespace: 'default', node: 'node-a', addresses: ['10.244.1.2'], tunnelProtocol: 'HBONE', ...extra } };
}
