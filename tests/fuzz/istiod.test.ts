// Fuzzing istiod-lite's gRPC services (discovery and CA on one TLS port), the real process
// against the embedded API server: random protobuf bytes, and fuzzed DeltaDiscoveryRequest and
// CreateCertificate messages (odd nodes, type URLs, names, nonces, NACKs; CSRs garbled bit by
// bit, of other key types, with other SANs; TTLs out of range; impersonation) with valid,
// missing and forged tokens, over a real gRPC channel. Alongside, a healthy discovery client
// stays connected and sees a new pod arrive at the end, and a healthy CA client keeps getting
// certificates; istiod-lite must still be running at the end.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { createCsr, typeUrls } from '@ambient/api';
import { DeltaXdsClient, protoRoot } from '@ambient/api/grpc';
import { grpcCaClient } from '@ambient/api/proxy-runtime';
import { type ControlPlane, ensureWorkload, startControlPlane } from './control-plane.ts';
import { FuzzFailure, fuzz, fuzzInputs, fuzzTimeoutMs, startHealthyClient, within } from './fuzz-harness.ts';

const SERVER_NAME = 'istiod.istio-system.svc';
const DISCOVERY = '/ambient.discovery.v1.AggregatedDiscoveryService/DeltaAggregatedResources';
const CA = '/ambient.ca.v1.CertificateService/CreateCertificate';
const requestType = protoRoot.lookupType('ambient.discovery.v1.DeltaDiscoveryRequest');
const csrRequestType = protoRoot.lookupType('ambient.ca.v1.CertificateRequest');

const passthrough = (b: Buffer): Buffer => b;
/** A client that sends and receives raw bytes: the fuzzer, not protobufjs, decides what is on the wire. */
const RawClient = grpc.makeGenericClientConstructor(
  {
    DeltaAggregatedResources: {
      path: DISCOVERY,
      requestStream: true,
      responseStream: true,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    },
    CreateCertificate: {
      path: CA,
      requestStream: false,
      responseStream: false,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    },
  },
  'Raw',
);

type TokenKind = 'test' | 'ztunnel' | 'workload' | 'none' | 'garbage' | 'forged' | 'expired-looking';

// ---- inputs -----------------------------------------------------------------------------------

const tokenArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<TokenKind>('test', 'ztunnel', 'workload') },
  { weight: 1, arbitrary: fc.constantFrom<TokenKind>('none', 'garbage', 'forged', 'expired-looking') },
);
const shortString = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('', '*', 'node-1', 'node-2', 'fuzz', 'istio-system', 'ztunnel', 'waypoint', 'test'));
const typeUrlArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(typeUrls.address, typeUrls.authorization, typeUrls.waypointConfig) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'type.googleapis.com/',
      'type.googleapis.com/google.protobuf.Any',
      'type.googleapis.com/ambient.discovery.v1.DeltaDiscoveryRequest',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
);
const nodeArb = fc.record(
  {
    id: fc.oneof(fc.constantFrom('test~1', 'ztunnel~node-1~x', 'waypoint~fuzz~wp'), fc.string({ maxLength: 40 })),
    type: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('ztunnel', 'waypoint', 'test') }, { weight: 1, arbitrary: shortString }),
    nodeName: shortString,
    namespace: shortString,
    name: shortString,
    metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
  },
  { requiredKeys: [] },
);
const discoveryRequestArb = fc.record(
  {
    node: nodeArb,
    typeUrl: typeUrlArb,
    resourceNamesSubscribe: fc.array(fc.oneof(fc.constantFrom('*', 'fuzz/x', 'default/kubernetes'), fc.string({ maxLength: 30 })), { maxLength: 5 }),
    resourceNamesUnsubscribe: fc.array(fc.oneof(fc.constant('*'), fc.string({ maxLength: 30 })), { maxLength: 3 }),
    initialResourceVersions: fc.dictionary(fc.string({ maxLength: 30 }), fc.string({ maxLength: 20 }), { maxKeys: 4 }),
    responseNonce: fc.oneof(fc.constantFrom('', '1', '0', '-1'), fc.string({ maxLength: 20 })),
    errorDetail: fc.record({ code: fc.integer(), message: fc.string({ maxLength: 100 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** A stream: one to four messages, each a fuzzed request encoded properly or plain random bytes. */
const discoveryStreamArb = fc.record({
  token: tokenArb,
  messages: fc.array(
    fc.oneof(
      { weight: 4, arbitrary: discoveryRequestArb.map((m) => Buffer.from(requestType.encode(requestType.fromObject(m)).finish())) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)) },
      // A valid message with a few bytes flipped: field tags and lengths that lie.
      {
        weight: 1,
        arbitrary: fc
          .tuple(discoveryRequestArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }))
          .map(([m, flips]) => flip(Buffer.from(requestType.encode(requestType.fromObject(m)).finish()), flips)),
      },
    ),
    { minLength: 1, maxLength: 4 },
  ),
  halfClose: fc.boolean(),
});

/** A conversation: a valid opening for the token's proxy type, then fuzzed follow-ups that answer each response. */
const conversationArb = fc.record({
  as: fc.constantFrom('test', 'ztunnel'),
  typeUrl: fc.constantFrom(typeUrls.address, typeUrls.authorization),
  followUps: fc.array(
    fc.record({
      request: discoveryRequestArb,
      /** Echo the last response's nonce (an ACK or NACK of it), or send the fuzzed one. */
      echoNonce: fc.boolean(),
      /** Keep the request's node or drop it (later requests may omit it); sometimes claim another. */
      node: fc.constantFrom('drop', 'drop', 'keep-fuzzed'),
    }),
    { minLength: 1, maxLength: 5 },
  ),
});

const keys = {
  p256: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  p384: crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  rsa: crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  ed25519: crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
};
const identityArb = fc.oneof(
  fc.constantFrom(
    'spiffe://cluster.local/ns/fuzz/sa/default',
    'spiffe://cluster.local/ns/fuzz/sa/other',
    'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    'spiffe://other.domain/ns/fuzz/sa/default',
    'spiffe://cluster.local/ns/fuzz/sa/',
    'spiffe://cluster.local/ns//sa/default',
    'spiffe://cluster.local/ns/fuzz/sa/default/extra',
    'SPIFFE://cluster.local/ns/fuzz/sa/default',
    'https://cluster.local/ns/fuzz/sa/default',
  ),
  fc.string({ maxLength: 60 }),
);
const csrArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        key: fc.constantFrom(...(Object.keys(keys) as Array<keyof typeof keys>)),
        uris: fc.array(identityArb, { maxLength: 3 }),
        dnsNames: fc.array(fc.domain(), { maxLength: 2 }),
        commonName: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      })
      .map(({ key, uris, dnsNames, commonName }) => csrOrText({ keyPem: keys[key], uris, dnsNames, ...(commonName === undefined ? {} : { commonName }) })),
  },
  // A valid CSR with bytes of its DER flipped, or cut short.
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...validCsrs()), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }), fc.option(fc.nat(), { nil: undefined }))
      .map(([pem, flips, cut]) => {
        const der = flip(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'), flips);
        return toPem(cut === undefined ? der : der.subarray(0, cut % der.length));
      }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => toPem(Buffer.from(b))) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('', '-----BEGIN CERTIFICATE REQUEST-----', '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n'),
    ),
  },
);
const caCallArb = fc.record({
  token: tokenArb,
  message: fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record({
          csr: csrArb,
          validityDuration: fc.oneof(
            fc.constantFrom(0, 1, -1, 86_400, 90 * 86_400, 90 * 86_400 + 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
            fc.integer(),
          ),
          impersonatedIdentity: fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: identityArb }),
        })
        .map((m) => Buffer.from(csrRequestType.encode(csrRequestType.fromObject(m)).finish())),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
  ),
});

/** A CSR, or, for a key or SAN our own encoder refuses, the refusal as the "CSR" text. */
function csrOrText(opts: Parameters<typeof createCsr>[0]): string {
  try {
    return createCsr(opts);
  } catch (err) {
    return String(err);
  }
}
function flip(buf: Buffer, flips: Array<[number, number]>): Buffer {
  const out = Buffer.from(buf);
  if (out.length === 0) return out;
  for (const [at, value] of flips) out[at % out.length] = value;
  return out;
}
function toPem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}
function validCsrs(): string[] {
  return [
    createCsr({ keyPem: keys.p256, uris: ['spiffe://cluster.local/ns/fuzz/sa/default'] }),
    createCsr({ keyPem: keys.p256, uris: ['spiffe://cluster.local/ns/fuzz/sa/default'], dnsNames: ['a.b'] }),
    createCsr({ keyPem: keys.rsa, uris: ['spiffe://cluster.local/ns/fuzz/sa/default'] }),
  ];
}

// ---- the suite --------------------------------------------------------------------------------

describe('fuzz: istiod-lite discovery and CA under malformed gRPC input', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(500);
  let cp: ControlPlane;
  let raw: grpc.Client & Record<string, any>;
  let tokens: Record<TokenKind, string | undefined>;
  let discovery: DeltaXdsClient;
  let disconnects: string[];
  let ca: ReturnType<typeof grpcCaClient>;
  let healthy: ReturnType<typeof startHealthyClient>;
  const statuses = new Map<string, number>();

  before(async function () {
    this.timeout(60_000);
    cp = await startControlPlane();
    await ensureWorkload(cp, { namespace: 'istio-system', sa: 'tester' });
    await ensureWorkload(cp, { namespace: 'istio-system', sa: 'ztunnel', pod: 'ztunnel-node-1', node: 'node-1', ip: '10.244.1.2' });
    await ensureWorkload(cp, { namespace: 'fuzz', sa: 'default', pod: 'app', node: 'node-1', ip: '10.244.1.3' });
    await ensureWorkload(cp, { namespace: 'healthy', sa: 'default' });
    const test = await cp.token('istio-system', 'tester');
    tokens = {
      test,
      ztunnel: await cp.token('istio-system', 'ztunnel', 'ztunnel-node-1'),
      workload: await cp.token('fuzz', 'default', 'app'),
      none: undefined,
      garbage: 'not a token',
      forged: `${test.split('.').slice(0, 2).join('.')}.${Buffer.from('forged signature').toString('base64url')}`,
      'expired-looking': 'eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9.AAAA',
    };
    const credentials = grpc.credentials.createSsl(Buffer.from(cp.rootCertPem));
    raw = new RawClient(cp.grpcAddress, credentials, { 'grpc.ssl_target_name_override': SERVER_NAME, 'grpc.default_authority': SERVER_NAME }) as any;

    disconnects = [];
    discovery = new DeltaXdsClient({
      address: cp.grpcAddress,
      rootCertPem: cp.rootCertPem,
      servername: SERVER_NAME,
      token: () => test,
      node: { id: 'test~healthy', type: 'test', nodeName: 'node-1' },
      subscriptions: [{ typeUrl: typeUrls.address }, { typeUrl: typeUrls.authorization }],
    });
    discovery.on('disconnected', (status) => disconnects.push(JSON.stringify(status)));
    const connected = new Promise<void>((r) => discovery.once('connected', () => r()));
    discovery.start();
    await within(10_000, 'the healthy discovery client connecting', connected);

    const healthyToken = await cp.token('healthy', 'default');
    ca = grpcCaClient({ address: cp.grpcAddress, rootCertPem: cp.rootCertPem, servername: SERVER_NAME, token: () => healthyToken });
    const csr = createCsr({ keyPem: keys.p256, uris: ['spiffe://cluster.local/ns/healthy/sa/default'] });
    healthy = startHealthyClient(async () => {
      const chain = await within(10_000, 'a healthy CreateCertificate', ca.createCertificate(csr, 3600, ''));
      if (chain.length < 2) throw new FuzzFailure(`a healthy CreateCertificate returned ${chain.length} certificate(s)`);
    }, 20);
  });

  after(async () => {
    await healthy?.stop();
    ca?.close();
    discovery?.close();
    raw?.close();
    await cp?.close();
  });

  function metadataFor(token: TokenKind): grpc.Metadata {
    const md = new grpc.Metadata();
    const value = tokens[token];
    if (value !== undefined) md.set('authorization', `Bearer ${value}`);
    return md;
  }
  function count(kind: string, code: number | string): void {
    const key = `${kind} ${typeof code === 'number' ? grpc.status[code] : code}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  function assertRunning(): void {
    if (cp.istiod.exited) throw new FuzzFailure(`istiod-lite exited ${JSON.stringify(cp.istiod.exited)}: ${cp.istiod.output.slice(-10).join('\n')}`);
  }

  it('ends or serves every discovery stream of fuzzed requests and random bytes', async () => {
    await fuzz('istiod', 'DeltaDiscoveryRequest streams', discoveryStreamArb, { inputs: Math.round(inputs * 0.4), batch: 16 }, async (s) => {
      const call = raw.DeltaAggregatedResources(metadataFor(s.token)) as grpc.ClientDuplexStream<Buffer, Buffer>;
      const outcome = new Promise<string>((resolve) => {
        call.on('data', () => resolve('response'));
        call.on('error', (err: grpc.ServiceError) =>
          resolve(err.code === grpc.status.INTERNAL ? `INTERNAL (${err.details.slice(0, 60)})` : (grpc.status[err.code] ?? String(err.code))),
        );
        call.on('end', () => resolve('ended'));
      });
      for (const m of s.messages) call.write(m);
      if (s.halfClose) call.end();
      // A stream the server accepted stays open for pushes: an answer, a status or a quiet 300 ms all do.
      const seen = await Promise.race([outcome, new Promise<string>((r) => setTimeout(() => r('open'), 300))]);
      count('discovery', seen);
      call.cancel();
      // A handler that threw shows as UNKNOWN: input reached code that did not expect it.
      if (seen === 'UNKNOWN')
        throw new FuzzFailure(`discovery answered UNKNOWN to ${s.messages.map((m) => m.toString('hex').slice(0, 120)).join(' | ')} (token ${s.token})`);
      assertRunning();
    });
  });

  it('keeps answering or ends a stream whose follow-ups ACK, NACK, re-subscribe and re-claim at random', async () => {
    const responseType = protoRoot.lookupType('ambient.discovery.v1.DeltaDiscoveryResponse');
    await fuzz('istiod', 'discovery conversations', conversationArb, { inputs: Math.round(inputs * 0.2), batch: 8 }, async (c) => {
      const call = raw.DeltaAggregatedResources(metadataFor(c.as)) as grpc.ClientDuplexStream<Buffer, Buffer>;
      let lastNonce = '';
      let ended: string | undefined;
      let responses = 0;
      let wake: (() => void) | undefined;
      call.on('data', (b: Buffer) => {
        responses++;
        lastNonce = String((responseType.decode(b) as unknown as { nonce?: string }).nonce ?? '');
        wake?.();
      });
      call.on('error', (err: grpc.ServiceError) => {
        ended = grpc.status[err.code] ?? String(err.code);
        wake?.();
      });
      const next = (ms: number) =>
        new Promise<void>((r) => {
          wake = r;
          setTimeout(r, ms);
        });
      const node = c.as === 'test' ? { id: 'test~fuzz', type: 'test', nodeName: 'node-1' } : { id: 'ztunnel~node-1~fuzz', type: 'ztunnel', nodeName: 'node-1' };
      call.write(Buffer.from(requestType.encode(requestType.fromObject({ node, typeUrl: c.typeUrl, resourceNamesSubscribe: ['*'] })).finish()));
      await next(300);
      for (const f of c.followUps) {
        if (ended) break;
        const m = { ...f.request, ...(f.echoNonce ? { responseNonce: lastNonce } : {}) };
        if (f.node === 'drop') delete m.node;
        call.write(Buffer.from(requestType.encode(requestType.fromObject(m)).finish()));
        await next(100);
      }
      call.cancel();
      count('conversation', ended ?? (responses > 0 ? 'answered' : 'quiet'));
      if (ended === 'UNKNOWN') throw new FuzzFailure(`a discovery conversation as ${c.as} ended UNKNOWN after ${JSON.stringify(c.followUps).slice(0, 600)}`);
      assertRunning();
    });
  });

  it('answers every fuzzed CreateCertificate and random bytes with a status, never UNKNOWN', async () => {
    await fuzz('istiod', 'CreateCertificate', caCallArb, { inputs: Math.round(inputs * 0.4), batch: 16 }, async (c) => {
      const code = await within(
        10_000,
        `an answer to CreateCertificate ${c.message.toString('hex').slice(0, 200)}`,
        new Promise<number>((resolve) => {
          raw.CreateCertificate(c.message, metadataFor(c.token), { deadline: Date.now() + 8_000 }, (err: grpc.ServiceError | null) => {
            if (err?.code === grpc.status.INTERNAL) count('ca', `INTERNAL (${err.details.slice(0, 60)})`);
            resolve(err ? err.code : grpc.status.OK);
          });
        }),
      );
      if (code !== grpc.status.INTERNAL) count('ca', code);
      if (code === grpc.status.UNKNOWN || code === grpc.status.DEADLINE_EXCEEDED)
        throw new FuzzFailure(`CreateCertificate answered ${grpc.status[code]} to ${c.message.toString('hex').slice(0, 400)} (token ${c.token})`);
      assertRunning();
    });
  });

  it('kept the healthy clients whole: certificates all the way, discovery connected and current', async () => {
    const run = await healthy.stop();
    for (const [key, n] of [...statuses].sort()) console.log(`      ${key}: ${n}`);
    assert.deepEqual(run.errors, [], `the healthy CA client saw ${run.errors.length} error(s)`);
    assert.ok(run.ok > 0);
    assert.deepEqual(disconnects, [], 'the healthy discovery stream was never cut');
    console.log(`      healthy clients: ${run.ok} certificates issued, discovery stream never cut`);
    assertRunning();
    await ensureWorkload(cp, { namespace: 'healthy', sa: 'default', pod: 'late', node: 'node-1', ip: '10.244.1.77' });
    const late = (await cp.kube('GET', '/api/v1/namespaces/healthy/pods/late')).metadata.uid;
    await within(
      10_000,
      'the new pod reaching the healthy discovery client',
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (discovery.resources(typeUrls.address).has(late)) {
            discovery.off('update', check);
            resolve();
          }
        };
        discovery.on('update', check);
        check();
      }),
    );
  });
});
