import assert from 'node:assert/strict';
import { normaliseTracestate, parseTraceparent, propagateTrace, type RandomSource, requestId } from '../../src/telemetry/trace-context.ts';

/** Bytes 0x11, 0x12, ... in hex: ids are predictable and tell which draw made them. */
function counting(start = 0x11): RandomSource {
  let next = start;
  return (digits) => Array.from({ length: digits / 2 }, () => (next++ & 0xff).toString(16).padStart(2, '0')).join('');
}

const zeros: RandomSource = (digits) => '0'.repeat(digits);

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('trace context', () => {
  it("keeps a valid parent's trace id and flags, becomes a new span, keeps tracestate", () => {
    const ctx = propagateTrace({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7' }, counting());
    assert.deepEqual(ctx, {
      traceparent: `00-${TRACE}-1112131415161718-01`,
      traceId: TRACE,
      spanId: '1112131415161718',
      parentSpanId: PARENT,
      sampled: true,
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    });
  });

  it('starts a new, unsampled trace when there is no traceparent, and passes no tracestate', () => {
    const ctx = propagateTrace({ tracestate: 'congo=t61rcWkgMzE' }, counting());
    assert.deepEqual(ctx, {
      traceparent: '00-191a1b1c1d1e1f202122232425262728-1112131415161718-00',
      traceId: '191a1b1c1d1e1f202122232425262728',
      spanId: '1112131415161718',
      sampled: false,
    });
  });

  const invalid: Array<[string, string | string[]]> = [
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['a long parent id', `00-${TRACE}-${PARENT}0-01`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with a fifth field', `00-${TRACE}-${PARENT}-01-what`],
    ['a non-hex flags field', `00-${TRACE}-${PARENT}-0x`],
    ['a missing field', `00-${TRACE}-01`],
    ['surrounding text', ` 00-${TRACE}-${PARENT}-01`],
    ['two headers', [`00-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01`]],
  ];
  for (const [what, header] of invalid) {
    it(`restarts the trace on a traceparent with ${what}`, () => {
      const ctx = propagateTrace({ traceparent: header, tracestate: 'congo=t61rcWkgMzE' }, counting());
      assert.equal(ctx.traceId, '191a1b1c1d1e1f202122232425262728');
      assert.equal(ctx.parentSpanId, undefined);
      assert.equal(ctx.tracestate, undefined);
      assert.equal(ctx.traceparent.slice(-3), '-00');
    });
  }

  it('reads a later version by its first four fields and answers in version 00', () => {
    assert.deepEqual(parseTraceparent(`01-${TRACE}-${PARENT}-01-future-stuff`), { traceId: TRACE, parentId: PARENT, flags: 1 });
    assert.equal(propagateTrace({ traceparent: `cc-${TRACE}-${PARENT}-01` }, counting()).traceparent, `00-${TRACE}-1112131415161718-01`);
  });

  it('keeps only the sampled flag', () => {
    assert.equal(propagateTrace({ traceparent: `00-${TRACE}-${PARENT}-03` }, counting()).traceparent.slice(-2), '01');
    assert.equal(propagateTrace({ traceparent: `00-${TRACE}-${PARENT}-02` }, counting()).traceparent.slice(-2), '00');
  });

  it('never hands out an all-zero id, even from a source of zeros', () => {
    const ctx = propagateTrace({}, zeros);
    assert.equal(ctx.traceId, `${'0'.repeat(31)}1`);
    assert.equal(ctx.spanId, `${'0'.repeat(15)}1`);
    assert.notEqual(parseTraceparent(ctx.traceparent), undefined);
  });

  it('makes distinct valid ids from the real random source', () => {
    const a = propagateTrace({});
    const b = propagateTrace({});
    assert.notEqual(a.traceId, b.traceId);
    assert.notEqual(a.spanId, b.spanId);
    assert.deepEqual(parseTraceparent(a.traceparent), { traceId: a.traceId, parentId: a.spanId, flags: 0 });
  });
});

describe('tracestate', () => {
  it('joins repeated headers and drops blank members', () => {
    assert.equal(normaliseTracestate(['a=1 , ,b@c=2', ' d=3']), 'a=1,b@c=2,d=3');
    assert.equal(normaliseTracestate(' , '), undefined);
  });

  it('drops the whole list when a member is malformed or a key repeats', () => {
    assert.equal(normaliseTracestate('a=1,B=2'), undefined);
    assert.equal(normaliseTracestate('a=1,b'), undefined);
    assert.equal(normaliseTracestate('a=1,b=x=y'), undefined);
    assert.equal(normaliseTracestate('a=1,b=é'), undefined);
    assert.equal(normaliseTracestate('a=1,a=2'), undefined);
    assert.equal(normaliseTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')), undefined);
  });

  it('trims to 512 characters, long members first, then from the end', () => {
    const long = `big=${'x'.repeat(200)}`;
    const small = Array.from({ length: 20 }, (_, i) => `key${String(i).padStart(2, '0')}=${'v'.repeat(16)}`); // 22 chars each
    const out = normaliseTracestate([long, ...small].join(','))!;
    assert.equal(out.includes('big='), false);
    assert.equal(out, small.join(','));
    const many = Array.from({ length: 30 }, (_, i) => `key${String(i).padStart(2, '0')}=${'v'.repeat(16)}`);
    const trimmed = normaliseTracestate(many.join(','))!;
    assert.ok(trimmed.length <= 512);
    assert.equal(trimmed, many.slice(0, 22).join(','));
  });
});

describe('request id', () => {
  it('keeps a sane x-request-id', () => {
    assert.equal(requestId({ 'x-request-id': 'abc-123' }, counting()), 'abc-123');
    assert.equal(requestId({ 'x-request-id': 'x'.repeat(128) }), 'x'.repeat(128));
  });

  it('replaces one that is too long, empty, has blanks or control characters, or is repeated', () => {
    for (const bad of ['x'.repeat(129), '', 'a b', 'a\tb', 'é', ['a', 'b']]) {
      assert.equal(requestId({ 'x-request-id': bad }, counting()), '11121314-1516-4718-991a-1b1c1d1e1f20', JSON.stringify(bad));
    }
  });

  it('generates UUID v4s', () => {
    const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.match(requestId({}), v4);
    assert.match(requestId({}, zeros), v4);
    assert.match(requestId({}, counting(0xf0)), v4);
    assert.notEqual(requestId({}), requestId({}));
  });
});
