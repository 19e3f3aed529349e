// Shared setup for the upstream client tests: a mesh CA, the waypoint's and a pod's certificates,
// an app (HTTP/1.1, h2c or raw TCP) on 127.0.0.1 port 0, and in front of it a real HBONE server
// playing the pod's ztunnel: it dials the CONNECT authority, as ztunnel does.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { createHboneServer, type HboneServer, type HboneServerOptions, type HboneSource, type InboundRequest } from '@ambient/hbone';
import type { Endpoint, EndpointProtocol } from '../../src/endpoint/endpoint.ts';

export const WAYPOINT_ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';
export const POD_ID = 'spiffe://cluster.local/ns/shop/sa/reviews';
export const OTHER_ID = 'spiffe://cluster.local/ns/shop/sa/ratings';

const meshCa = createCertificateAuthority({ commonName: 'mesh root' });

function workloadContext(uri: string): tls.SecureContext {
  const leaf = issueCertificate({ ca: meshCa, commonName: '', uris: [uri] });
  return tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem, ca: meshCa.certPem, minVersion: 'TLSv1.3' });
}

const waypointContext = workloadContext(WAYPOINT_ID);
const podContext = workloadContext(POD_ID);

export const waypointSource = (): HboneSource => ({ identity: WAYPOINT_ID, context: waypointContext });

export interface App {
  port: number;
  /** Connections the app accepted (HTTP/1.1: one per HBONE stream; h2c: one per session). */
  connections: number;
  /** Connections still open. */
  open: Set<net.Socket>;
  close(): Promise<void>;
}

function trackSockets(server: net.Server, app: App): void {
  server.on('connection', (socket: net.Socket) => {
    app.connections++;
    app.open.add(socket);
    socket.once('close', () => app.open.delete(socket));
  });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function closer(server: net.Server, app: App): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of app.open) s.destroy();
      server.close(() => resolve());
    });
}

export async function startHttp1App(handler: http.RequestListener): Promise<App> {
  const server = http.createServer(handler);
  const app: App = { port: 0, connections: 0, open: new Set(), close: async () => {} };
  app.close = closer(server, app);
  trackSockets(server, app);
  app.port = await listen(server);
  return app;
}

export async function startH2cApp(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<App> {
  const server = http2.createServer();
  server.on('stream', onStream);
  const app: App = { port: 0, connections: 0, open: new Set(), close: async () => {} };
  app.close = closer(server, app);
  trackSockets(server, app);
  app.port = await listen(server);
  return app;
}

/** A TCP app that answers each connection by hand (malformed HTTP, echo...). */
export async function startTcpApp(onConnection: (socket: net.Socket) => void): Promise<App> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  const app: App = { port: 0, connections: 0, open: new Set(), close: async () => {} };
  app.close = closer(server, app);
  trackSockets(server, app);
  app.port = await listen(server);
  return app;
}

export interface Ztunnel {
  server: HboneServer;
  port: number;
  /** Every CONNECT it authorized. */
  requests: InboundRequest[];
  close(): Promise<void>;
}

/** The pod's ztunnel: an HBONE server presenting the pod's certificate, dialing the CONNECT authority. */
export async function startZtunnel(overrides: Partial<HboneServerOptions> = {}): Promise<Ztunnel> {
  const requests: InboundRequest[] = [];
  const server = createHboneServer({
    context: () => podContext,
    trustDomain: 'cluster.local',
    rootCertPem: meshCa.certPem,
    authorize: (req) => {
      requests.push(req);
      return { allow: true };
    },
    connectUpstream: (target) => dial(target.ip, target.port),
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, requests, close: () => server.close() };
}

function dial(host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export function endpointFor(app: { port: number }, ztunnel: { port: number }, protocol: EndpointProtocol = 'http1', identity = POD_ID): Endpoint {
  return { address: { ip: '127.0.0.1', port: app.port }, hboneAddress: { ip: '127.0.0.1', port: ztunnel.port }, identity, protocol };
}

/** A port nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function readAll(body: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of body) out += (chunk as Buffer).toString();
  return out;
}

/** Polls a condition the sockets will make true (no fixed sleeps). */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
