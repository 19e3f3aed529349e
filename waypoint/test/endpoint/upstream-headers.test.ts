import assert from 'node:assert/strict';
import { downstreamResponseHeaders, flattenTrailers, upstreamRequestHeaders } from '../../src/endpoint/upstream-headers.ts';

describe('upstreamRequestHeaders', () => {
  const cases: Array<[name: string, headers: Record<string, string | string[] | undefined>, expected: Record<string, string | string[]>]> = [
    ['sets host from the authority, replacing the one received', { host: 'old:80', accept: '*/*' }, { accept: '*/*', host: 'shop:80' }],
    [
      'drops HTTP/2 pseudo-headers',
      { ':method': 'GET', ':path': '/', ':authority': 'shop:80', ':scheme': 'http', 'x-a': '1' },
      { 'x-a': '1', host: 'shop:80' },
    ],
    [
      'drops connection-specific fields',
      { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'proxy-connection': 'x', 'transfer-encoding': 'chunked', upgrade: 'h2c', 'http2-settings': 'AA' },
      { host: 'shop:80' },
    ],
    ['drops the fields Connection names', { connection: 'close, X-Hop', 'x-hop': '1', 'x-end': '2' }, { 'x-end': '2', host: 'shop:80' }],
    ['keeps te: trailers (gRPC needs it) and nothing else of TE', { te: 'gzip, trailers' }, { te: 'trailers', host: 'shop:80' }],
    ['drops a TE without trailers', { te: 'gzip' }, { host: 'shop:80' }],
    ['drops expect (the server side answers 100-continue)', { expect: '100-continue' }, { host: 'shop:80' }],
    ['keeps repeated fields and skips absent ones', { 'set-thing': ['a', 'b'], 'x-none': undefined }, { 'set-thing': ['a', 'b'], host: 'shop:80' }],
  ];
  for (const [name, headers, expected] of cases) {
    it(name, () => assert.deepEqual(upstreamRequestHeaders(headers, 'shop:80'), expected));
  }
});

describe('downstreamResponseHeaders', () => {
  it('drops connection-specific fields so the response can go out on HTTP/2', () => {
    assert.deepEqual(
      downstreamResponseHeaders({
        connection: 'keep-alive, x-h',
        'keep-alive': 'timeout=5',
        'x-h': '1',
        'transfer-encoding': 'chunked',
        'content-type': 'text/plain',
      }),
      { 'content-type': 'text/plain' },
    );
  });
});

describe('flattenTrailers', () => {
  it('joins repeated fields and drops pseudo-headers', () => {
    assert.deepEqual(flattenTrailers({ 'grpc-status': '0', 'x-r': ['a', 'b'], ':status': '200' }), { 'grpc-status': '0', 'x-r': 'a, b' });
    assert.deepEqual(flattenTrailers(null), {});
  });
});
