// A waypoint server on 127.0.0.1 port 0 with a throwaway mesh CA, reached through a real HBONE
// client (HbonePool), plus small clients for what travels inside a CONNECT stream: raw
// HTTP/1.1 text (so the test controls every byte, keep-alive and malformed requests included)
// and h2c through Node's http2 client.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { FakeClock } from '@ambient/api/testing';
import { formatSocketAddress, HbonePool, type HboneSource, type InboundRecord, type SocketAddress } from '@ambient/hbone';
import pino from 'pino';
import type {
  InboundConnection,
  InboundLimits,
  RejectedRequest,
  ServedTarget,
  WaypointRequest,
  WaypointResponse,
} from '../../src/server/inbound-connection.ts';
import { startWaypointServer, type WaypointServer, type WaypointServerOptions } from '../../src/server/waypoint-server.ts';

export const WAYPOINT_ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';
export const CLIENT_ID = 'spiffe://cluster.local/ns/frontend/sa/web';
export const CLIENT_POD_IP = '10.244.1.5';

const meshCa = createCertificateAuthority({ commonName: 'mesh root' });

export function workloadContext(uri: string): tls.SecureContext {
  const leaf = issueCertificate({ ca: meshCa, commonName: '', uris: [uri] });
  return tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem, ca: meshCa.certPem, minVersion: 'TLSv1.3' });
}

const waypointContext = workloadContext(WAYPOINT_ID);
export const clientSource: HboneSource = { identity: CLIENT_ID, ip: CLIENT_POD_IP, context: workloadContext(CLIENT_ID) };

/** The service the tests address, one port per way of declaring its protocol. */
export const svc = {
  http: { ip: '10.96.0.10', port: 80 },
  grpc: { ip: '10.96.0.10', port: 50051 },
  tcp: { ip: '10.96.0.10', port: 5432 },
  undeclared: { ip: '10.96.0.10', port: 8080 },
  unknown: { ip: '10.96.0.99', port: 80 },
} as const;

export interface TestTarget extends ServedTarget {
  name: string;
}

const targets = new Map<string, TestTarget>([
  [formatSocketAddress(svc.http), { name: 'http', protocol: 'http1' }],
  [formatSocketAddress(svc.grpc), { name: 'grpc', protocol: 'http2' }],
  [formatSocketAddress(svc.tcp), { name: 'tcp', protocol: 'tcp' }],
  [formatSocketAddress(svc.undeclared), { name: 'undeclared', protocol: 'detect' }],
]);

export interface Harness {
  server: WaypointServer<TestTarget>;
  pool: HbonePool;
  clock: FakeClock;
  /** Every connection a request or a TCP stream was served on, in order. */
  conns: InboundConnection<TestTarget>[];
  rejected: RejectedRequest<TestTarget>[];
  records: InboundRecord[];
  connect(target: SocketAddress, headers?: Record<string, string>): Promise<Duplex>;
  close(): Promise<void>;
}

/**
 * The default handlers: HTTP answers a JSON description of the request (a gRPC request gets a
 * gRPC frame and trailers); TCP writes `tcp:` first (a server-first protocol would) and then
 * echoes until the client ends.
 */
export function describeRequest(req: WaypointRequest, res: WaypointResponse, conn: InboundConnection<TestTarget>): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    body += chunk;
  });
  req.on('end', () => {
    if (req.headers['content-type'] === 'application/grpc') {
      const reply = Buffer.from(`reply to ${req.url}`);
      const frame = Buffer.alloc(5 + reply.length);
      frame.writeUInt32BE(reply.length, 1);
      reply.copy(frame, 5);
      res.setHeader('content-type', 'application/grpc');
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
      res.end(frame);
      return;
    }
    const text = JSON.stringify({ method: req.method, url: req.url, body, protocol: conn.protocol, target: conn.served.name });
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(text));
    res.end(text);
  });
}

export async function startHarness(overrides: Partial<WaypointServerOptions<TestTarget>> = {}, limits: Partial<InboundLimits> = {}): Promise<Harness> {
  const clock = new FakeClock();
  const conns: InboundConnection<TestTarget>[] = [];
  const rejected: RejectedRequest<TestTarget>[] = [];
  const records: InboundRecord[] = [];
  const onRequest = overrides.onRequest ?? describeRequest;
  const onTcp =
    overrides.onTcp ??
    ((stream: Duplex) => {
      stream.write('tcp:');
      stream.pipe(stream);
    });
  const server = await startWaypointServer<TestTarget>({
    context: () => waypointContext,
    trustDomain: 'cluster.local',
    rootCertPem: meshCa.certPem,
    logger: pino({ level: 'silent' }),
    listen: { host: '127.0.0.1', port: 0 },
    resolve: (target) => targets.get(formatSocketAddress(target)),
    onRejectedRequest: (r) => rejected.push(r),
    onStreamClosed: (r) => records.push(r),
    timers: clock.timers,
    ...overrides,
    onRequest: (req, res, conn) => {
      conns.push(conn);
      return onRequest(req, res, conn);
    },
    onTcp: (stream, conn) => {
      conns.push(conn);
      onTcp(stream, conn);
    },
    limits,
  });
  const { port } = server.address;
  const pool = new HbonePool();
  return {
    server,
    pool,
    clock,
    conns,
    rejected,
    records,
    connect: (destination, headers) =>
      pool.connect({
        source: clientSource,
        destination,
        hboneAddress: { ip: '127.0.0.1', port },
        expectedIdentities: [WAYPOINT_ID],
        ...(headers !== undefined ? { headers } : {}),
      }),
    close: async () => {
      pool.close();
      await server.close();
    },
  };
}

export interface Http1Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads HTTP/1.1 responses (content-length bodies) off a stream, one at a time. */
export class Http1Reader {
  #buffer = '';
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(stream: Duplex) {
    stream.setEncoding('latin1');
    stream.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#wake?.();
    });
    stream.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    stream.on('error', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  async response(): Promise<Http1Response> {
    for (;;) {
      const parsed = this.#parse();
      if (parsed !== undefined) return parsed;
      if (this.#ended) throw new Http1ReaderEnded(this.#buffer);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Resolves once the server ended the stream; what arrived after the last response, if anything. */
  async end(): Promise<string> {
    while (!this.#ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    return this.#buffer;
  }

  #parse(): Http1Response | undefined {
    const head = this.#buffer.indexOf('\r\n\r\n');
    if (head < 0) return undefined;
    const [statusLine, ...lines] = this.#buffer.slice(0, head).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.#buffer.length < head + 4 + length) return undefined;
    const body = this.#buffer.slice(head + 4, head + 4 + length);
    this.#buffer = this.#buffer.slice(head + 4 + length);
    return { status: Number(statusLine!.split(' ')[1]), headers, body };
  }
}

class Http1ReaderEnded extends Error {
  constructor(rest: string) {
    super(`the stream ended before a whole response; got ${JSON.stringify(rest)}`);
  }
}

/** An h2c client session over a CONNECT stream. */
export function h2cSession(stream: Duplex): http2.ClientHttp2Session {
  const session = http2.connect('http://waypoint.test', { createConnection: () => stream });
  session.on('error', () => {});
  return session;
}

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Response> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => {});
    req.on('close', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers, rstCode: req.rstCode }));
    req.end(body);
  });
}

/** Writes `payload`, half-closes, and collects everything until the peer ends. */
export function exchange(stream: Duplex, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    stream.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
    });
    stream.once('end', () => resolve(reply));
    stream.once('error', reject);
    stream.end(payload, 'latin1');
  });
}

/** Resolves on the stream's next chunk of data. */
export function nextData(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    stream.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
    stream.once('error', reject);
  });
}

/** Real-time polling for a condition that the server reaches asynchronously (sockets, not timers). */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new UntilTimeout(what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

class UntilTimeout extends Error {
  constructor(what: string) {
    super(`timed out waiting for ${what}`);
  }
}
