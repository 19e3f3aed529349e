// Shared setup for the HBONE tests: a mesh CA, workload certificates, an upstream echo app and
// an HBONE server on 127.0.0.1 port 0. Everything returned is closed by `closeAll`.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { createCertificateAuthority, issueCertificate, type KeyCertPair } from '@ambient/api';
import { createHboneServer, type HboneServer, type HboneServerOptions, type InboundRequest } from '../src/hbone-server.ts';

export const CLIENT_ID = 'spiffe://cluster.local/ns/a/sa/x';
export const SERVER_ID = 'spiffe://cluster.local/ns/b/sa/y';

export const meshCa = createCertificateAuthority({ commonName: 'mesh root' });

export function workloadContext(uri: string, ca: KeyCertPair = meshCa, trustPem: string = meshCa.certPem, validitySeconds?: number): tls.SecureContext {
  const opts: Parameters<typeof issueCertificate>[0] = { ca, commonName: '', uris: [uri] };
  if (validitySeconds !== undefined) opts.validitySeconds = validitySeconds;
  const leaf = issueCertificate(opts);
  return tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem, ca: trustPem, minVersion: 'TLSv1.3' });
}

export const clientContext = workloadContext(CLIENT_ID);
export const serverContext = workloadContext(SERVER_ID);

export const silentLogger = pino({ level: 'silent' });

export interface Harness {
  server: HboneServer;
  port: number;
  requests: InboundRequest[];
  echo: EchoApp;
}

export interface EchoApp {
  port: number;
  /** Raw bytes each upstream connection received before its peer ended. */
  received: string[];
  close(): Promise<void>;
}

/** Upstream app: collects what it is sent and, once the sender half-closes, replies and ends. */
export async function startEchoApp(): Promise<EchoApp> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString();
    });
    socket.on('end', () => {
      received.push(data);
      socket.end(`echo:${data}`);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function connectTcp(target: { host: string; port: number }): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** An HBONE server whose upstream is always the echo app, recording every authorize() call. */
export async function startHarness(overrides: Partial<HboneServerOptions> = {}): Promise<Harness> {
  const echo = await startEchoApp();
  const requests: InboundRequest[] = [];
  const server = createHboneServer({
    context: () => serverContext,
    trustDomain: 'cluster.local',
    rootCertPem: meshCa.certPem,
    authorize: (req) => {
      requests.push(req);
      return { allow: true };
    },
    connectUpstream: () => connectTcp({ host: '127.0.0.1', port: echo.port }),
    logger: silentLogger,
    ...overrides,
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, requests, echo };
}

export async function closeHarness(h: Harness | undefined): Promise<void> {
  if (h === undefined) return;
  await h.server.close();
  await h.echo.close();
}

/** Writes `payload`, half-closes, and collects everything until the peer ends. */
export function exchange(stream: Duplex, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    stream.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    stream.once('end', () => resolve(reply));
    stream.once('error', reject);
    stream.end(payload);
  });
}

/** Polls until `check` holds (for what real sockets deliver); fails after 5 s. */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A TCP relay in front of a server that can go silent: from `drop()` on it reads and discards
 * bytes both ways and closes nothing, as a dead node or a NAT that forgot the flow leaves a
 * connection. Neither end learns of it except by a keepalive that goes unanswered.
 */
export interface DroppingRelay {
  port: number;
  drop(): void;
  /** Connections the server side has closed. */
  readonly serverClosed: number;
  /** Connections the client side has closed. */
  readonly clientClosed: number;
  close(): Promise<void>;
}

export async function startDroppingRelay(targetPort: number): Promise<DroppingRelay> {
  let dropping = false;
  let serverClosed = 0;
  let clientClosed = 0;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    track(client);
    track(upstream);
    client.on('data', (chunk: Buffer) => dropping || upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => dropping || client.write(chunk));
    upstream.once('close', () => {
      serverClosed++;
      if (!dropping) client.destroy();
    });
    client.once('close', () => {
      clientClosed++;
      if (!dropping) upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    drop: () => {
      dropping = true;
    },
    get serverClosed() {
      return serverClosed;
    },
    get clientClosed() {
      return clientClosed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
