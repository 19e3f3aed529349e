// Records the telemetry tests share: productpage calling reviews through the shop waypoint.
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Workload } from '@ambient/api';
import { id } from '@ambient/api/testing';
import { type RequestRecord, type TcpConnectionRecord, workloadLabels } from '../../src/telemetry/request-record.ts';
import { NO_FLAGS } from '../../src/telemetry/response-flags.ts';

export const productpage: Workload = {
  uid: 'pp',
  name: 'productpage-v1-7f9c',
  workloadName: 'productpage-v1',
  namespace: 'shop',
  identity: id('shop', 'productpage'),
  canonicalName: 'productpage',
  canonicalRevision: 'v1',
};

export const reviews: Workload = {
  uid: 'rv',
  name: 'reviews-v2-55d8',
  workloadName: 'reviews-v2',
  namespace: 'shop',
  identity: id('shop', 'reviews'),
  canonicalName: 'reviews',
  canonicalRevision: 'v2',
};

export const reviewsService = { hostname: 'reviews.shop.svc.cluster.local', name: 'reviews', namespace: 'shop' };

export function okRequest(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    source: { identity: id('shop', 'productpage'), namespace: 'shop', ip: '10.244.1.5' },
    sourceWorkload: workloadLabels(productpage),
    service: reviewsService,
    destinationWorkload: workloadLabels(reviews),
    startTime: Date.UTC(2026, 11, 2, 10, 0, 0),
    method: 'GET',
    path: '/reviews/1?x=1',
    authority: 'reviews:9080',
    httpVersion: 'HTTP/1.1',
    protocol: 'http',
    status: 200,
    responseFlags: NO_FLAGS,
    responseCodeDetails: 'via_upstream',
    bytesReceived: 0,
    bytesSent: 345,
    durationMs: 7.6,
    routeName: 'shop/reviews',
    attempts: 1,
    requestId: '5f0c8f3e-6a4e-4b9a-9d5c-0d3c1b2a4e5f',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    upstreamHost: '10.244.2.7:9080',
    userAgent: 'curl/8.5.0',
    ...overrides,
  };
}

export function tcpConnection(overrides: Partial<TcpConnectionRecord> = {}): TcpConnectionRecord {
  return {
    source: { identity: id('shop', 'productpage'), namespace: 'shop', ip: '10.244.1.5' },
    sourceWorkload: workloadLabels(productpage),
    service: { hostname: 'db.shop.svc.cluster.local', name: 'db', namespace: 'shop' },
    destinationWorkload: undefined,
    startTime: Date.UTC(2026, 11, 2, 10, 0, 0),
    responseFlags: NO_FLAGS,
    bytesReceived: 100,
    bytesSent: 2000,
    durationMs: 1500.2,
    upstreamHost: '10.244.2.9:5432',
    ...overrides,
  };
}

/** A pino logger writing into memory, one parsed object per line. */
export function memoryLogger(level: pino.Level = 'info'): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
        done();
      },
    }),
  );
  return { logger, lines };
}

/** The sample lines of `name` in Prometheus text output. */
export function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}
