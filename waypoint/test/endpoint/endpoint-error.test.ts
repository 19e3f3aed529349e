import assert from 'node:assert/strict';
import { HboneError } from '@ambient/hbone';
import { errors } from 'undici';
import {
  classifyUpstreamFailure,
  EndpointError,
  endpointFailure,
  type Classification,
  type ExchangePhase,
  type FailureContext,
} from '../../src/endpoint/endpoint-error.ts';

const notSent: ExchangePhase = { requestSent: false, responseStarted: false };
const sent: ExchangePhase = { requestSent: true, responseStarted: false };
const streaming: ExchangePhase = { requestSent: true, responseStarted: true };

/** What undici raises for an HTTP/2 stream error: Node's error, tagged with the RST_STREAM code. */
function streamReset(code: number, base: Error & { code?: string } = Object.assign(new Error('stream closed'), { code: 'ERR_HTTP2_STREAM_ERROR' })): Error {
  return Object.assign(base, { http2ErrorCode: code });
}

const cases: Array<[name: string, err: unknown, phase: ExchangePhase, context: FailureContext, expected: Classification]> = [
  ['an HBONE connect failure', new HboneError('connect_failed', 'refused'), notSent, {}, { code: 'ERR_ENDPOINT_CONNECT', responseFlag: 'UF' }],
  ['a CONNECT refused with 503', new HboneError('unavailable', '503', { status: 503 }), notSent, {}, { code: 'ERR_ENDPOINT_CONNECT', responseFlag: 'UF' }],
  ['the wrong peer identity', new HboneError('identity_mismatch', 'x'), notSent, {}, { code: 'ERR_ENDPOINT_CONNECT', responseFlag: 'UF' }],
  ['a socket error before the request started', new errors.SocketError('closed'), notSent, {}, { code: 'ERR_ENDPOINT_CONNECT', responseFlag: 'UF' }],
  ['the connection closing under the request', new errors.SocketError('other side closed'), sent, {}, { code: 'ERR_ENDPOINT_RESET', responseFlag: 'UC' }],
  ['the connection closing mid-response', new errors.SocketError('other side closed'), streaming, {}, { code: 'ERR_ENDPOINT_RESET', responseFlag: 'UC' }],
  ['an HTTP/2 stream the peer reset', streamReset(2), streaming, {}, { code: 'ERR_ENDPOINT_RESET', responseFlag: 'UR' }],
  [
    'an HTTP/2 session whose socket went (a local code)',
    streamReset(2, new errors.SocketError('other side closed')),
    streaming,
    {},
    { code: 'ERR_ENDPOINT_RESET', responseFlag: 'UC' },
  ],
  ['a malformed response', new errors.HTTPParserError('bad status'), sent, {}, { code: 'ERR_ENDPOINT_PROTOCOL', responseFlag: 'UPE' }],
  ['a truncated content-length body', new errors.ResponseContentLengthMismatchError(), streaming, {}, { code: 'ERR_ENDPOINT_PROTOCOL', responseFlag: 'UPE' }],
  ['oversized response headers', new errors.HeadersOverflowError(), sent, {}, { code: 'ERR_ENDPOINT_PROTOCOL', responseFlag: 'UPE' }],
  ['a header undici refuses', new errors.InvalidArgumentError('invalid header'), notSent, {}, { code: 'ERR_ENDPOINT_INVALID_REQUEST', responseFlag: 'DPE' }],
  [
    'a request body longer than its content-length',
    new errors.RequestContentLengthMismatchError(),
    sent,
    {},
    { code: 'ERR_ENDPOINT_INVALID_REQUEST', responseFlag: 'DPE' },
  ],
  ['the client destroyed', new errors.ClientDestroyedError(), sent, {}, { code: 'ERR_ENDPOINT_CLOSED', responseFlag: 'LR' }],
  [
    'our signal, any reason',
    new errors.RequestAbortedError(),
    sent,
    { aborted: { reason: new Error('gone') } },
    { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'DC' },
  ],
  [
    'our signal, a timeout',
    new errors.RequestAbortedError(),
    sent,
    { aborted: { reason: new DOMException('late', 'TimeoutError') } },
    { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'UT' },
  ],
  [
    'our signal wins over the reset it causes',
    new errors.SocketError('closed'),
    streaming,
    { aborted: { reason: undefined } },
    { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'DC' },
  ],
  ['the downstream body failing', new Error('aborted'), sent, { downstreamGone: true }, { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'DC' }],
  [
    'an EndpointError keeps its own code and flag',
    new EndpointError('ERR_ENDPOINT_CLOSED', 'closed'),
    sent,
    { downstreamGone: true },
    { code: 'ERR_ENDPOINT_CLOSED', responseFlag: 'LR' },
  ],
];

describe('classifyUpstreamFailure', () => {
  for (const [name, err, phase, context, expected] of cases) {
    it(`${name} → ${expected.code} ${expected.responseFlag}`, () => {
      assert.deepEqual(classifyUpstreamFailure(err, phase, context), expected);
    });
  }
});

describe('endpointFailure', () => {
  it('carries the phase, the HBONE error and a message naming the exchange', () => {
    const hbone = new HboneError('identity_mismatch', 'peer identity spiffe://x is not one of spiffe://y');
    const err = endpointFailure(hbone, 'GET shop:80/ via 10.0.0.1:8080', notSent);
    assert.equal(err.code, 'ERR_ENDPOINT_CONNECT');
    assert.equal(err.hbone, hbone);
    assert.equal(err.hbone?.outcome, 'identity_mismatch');
    assert.equal(err.requestSent, false);
    assert.match(err.message, /^upstream GET shop:80\/ via 10\.0\.0\.1:8080: connect failed: peer identity/);
  });

  it('places an EndpointError raised without its phase (inside the request body) in the exchange', () => {
    const inner = new EndpointError('ERR_ENDPOINT_ABORTED', 'downstream request body closed before its end', { responseFlag: 'DC' });
    const err = endpointFailure(inner, 'POST x', sent);
    assert.equal(err.code, 'ERR_ENDPOINT_ABORTED');
    assert.equal(err.responseFlag, 'DC');
    assert.equal(err.requestSent, true);
    assert.equal(endpointFailure(err, 'POST x', sent), err, 'an error already placed is passed on as is');
  });

  it('makes the signal reason the cause of an abort', () => {
    const reason = new DOMException('route timeout 1s', 'TimeoutError');
    const err = endpointFailure(new errors.RequestAbortedError(), 'GET x', sent, { aborted: { reason } });
    assert.equal(err.cause, reason);
    assert.equal(err.responseFlag, 'UT');
    assert.match(err.message, /aborted: route timeout 1s/);
  });
});
