import assert from 'node:assert/strict';
import { compileHeaderRegex, InvalidPolicyField, parseFaultInjectionPolicy } from '../../src/mesh-policy/index.ts';

const routeRef = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'reviews' };
const abort503 = { abort: { httpStatus: 503 } };

/** The error a spec fails with, or undefined if it parses. */
function failure(spec: unknown): InvalidPolicyField | undefined {
  try {
    parseFaultInjectionPolicy(spec);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof InvalidPolicyField, `not an InvalidPolicyField: ${String(err)}`);
    return err;
  }
}

describe('parseFaultInjectionPolicy', () => {
  it('reads delay and abort with their percentages, and the targets of every kind', () => {
    const parsed = parseFaultInjectionPolicy({
      targetRefs: [
        routeRef,
        { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'ratings-grpc', sectionName: 'get' },
        { group: '', kind: 'Service', name: 'details' },
        { kind: 'Gateway', name: 'waypoint' },
      ],
      fault: { delay: { fixedDelay: '1500ms', percentage: { value: 12.5 } }, abort: { httpStatus: 503, percentage: { value: 30 } } },
    });
    assert.deepEqual(parsed, {
      targets: [
        { kind: 'HTTPRoute', name: 'reviews' },
        { kind: 'GRPCRoute', name: 'ratings-grpc', sectionName: 'get' },
        { kind: 'Service', name: 'details' },
        { kind: 'Gateway', name: 'waypoint' },
      ],
      headers: [],
      delay: { fixedDelayMs: 1500, percent: 12.5 },
      abort: { percent: 30, httpStatus: 503 },
    });
  });

  it('reads what a left-out field means', () => {
    const cases: [string, unknown, unknown][] = [
      ['no percentage: always (Istio)', { targetRefs: [routeRef], fault: abort503 }, { abort: { percent: 100, httpStatus: 503 } }],
      ['delay alone', { targetRefs: [routeRef], fault: { delay: { fixedDelay: '5s' } } }, { delay: { fixedDelayMs: 5000, percent: 100 } }],
      [
        'percentage 0: never',
        { targetRefs: [routeRef], fault: { abort: { httpStatus: 500, percentage: { value: 0 } } } },
        { abort: { percent: 0, httpStatus: 500 } },
      ],
      ['grpcStatus by name', { targetRefs: [routeRef], fault: { abort: { grpcStatus: 'UNAVAILABLE' } } }, { abort: { percent: 100, grpcStatus: 14 } }],
      ['grpcStatus OK (Istio accepts it)', { targetRefs: [routeRef], fault: { abort: { grpcStatus: 'OK' } } }, { abort: { percent: 100, grpcStatus: 0 } }],
      [
        'httpStatus null, grpcStatus set',
        { targetRefs: [routeRef], fault: { abort: { httpStatus: null, grpcStatus: 'INTERNAL' } } },
        { abort: { percent: 100, grpcStatus: 13 } },
      ],
      ['the older single targetRef', { targetRef: routeRef, fault: abort503 }, { abort: { percent: 100, httpStatus: 503 } }],
      ['an empty match', { targetRefs: [routeRef], match: {}, fault: abort503 }, { abort: { percent: 100, httpStatus: 503 } }],
    ];
    for (const [what, spec, want] of cases) {
      const { targets, headers, ...fault } = parseFaultInjectionPolicy(spec);
      assert.deepEqual(targets, [{ kind: 'HTTPRoute', name: 'reviews' }], what);
      assert.deepEqual(headers, [], what);
      assert.deepEqual(fault, want, what);
    }
  });

  it('reads header matches: names lower-cased, Exact by default, regexes compiled to match the whole value', () => {
    const { headers } = parseFaultInjectionPolicy({
      targetRefs: [routeRef],
      match: {
        headers: [
          { name: 'X-Chaos', value: 'on' },
          { name: 'user-agent', type: 'RegularExpression', value: 'curl/.*' },
          { name: 'x-tenant', type: 'Exact', value: 'a|b' },
        ],
      },
      fault: abort503,
    });
    assert.equal(headers.length, 3);
    assert.deepEqual(headers[0], { name: 'x-chaos', type: 'Exact', value: 'on' });
    assert.deepEqual(headers[2], { name: 'x-tenant', type: 'Exact', value: 'a|b' });
    const re = headers[1]!;
    assert.equal(re.type, 'RegularExpression');
    assert.equal(re.name, 'user-agent');
    if (re.type !== 'RegularExpression') return;
    assert.ok(re.regex.test('curl/8.1'));
    assert.ok(!re.regex.test('my curl/8.1'), 'anchored at the start');
    assert.ok(!re.regex.test('x'), 'anchored at the end');
  });

  it('refuses a bad field, naming the field and the value', () => {
    const withFault = (fault: unknown) => ({ targetRefs: [routeRef], fault });
    const withHeaders = (headers: unknown) => ({ targetRefs: [routeRef], match: { headers }, fault: abort503 });
    const cases: [string, unknown, string, RegExp][] = [
      ['spec not an object', 'x', 'spec', /^spec "x": expected an object/],
      ['no targetRefs', { fault: abort503 }, 'spec.targetRefs', /missing: expected a list of 1 to 16/],
      [
        'a target of another kind',
        { targetRefs: [{ kind: 'Namespace', name: 'shop' }], fault: abort503 },
        'spec.targetRefs[0].kind',
        /"Namespace": expected one of Gateway, HTTPRoute, GRPCRoute, Service/,
      ],
      [
        'a route in the core group',
        { targetRefs: [{ group: '', kind: 'HTTPRoute', name: 'r' }], fault: abort503 },
        'spec.targetRefs[0].group',
        /"": a HTTPRoute is in group "gateway.networking.k8s.io"/,
      ],
      ['no fault', { targetRefs: [routeRef] }, 'spec.fault', /missing: expected an object/],
      ['an empty fault', withFault({}), 'spec.fault', /\{\}: expected delay, abort or both/],
      ['delay a string', withFault({ delay: '5s' }), 'spec.fault.delay', /"5s": expected an object/],
      ['delay without fixedDelay', withFault({ delay: { percentage: { value: 5 } } }), 'spec.fault.delay.fixedDelay', /missing: expected a duration/],
      ['fixedDelay in Go syntax', withFault({ delay: { fixedDelay: '1.5s' } }), 'spec.fault.delay.fixedDelay', /"1\.5s": not a Gateway API duration/],
      ['fixedDelay zero', withFault({ delay: { fixedDelay: '0s' } }), 'spec.fault.delay.fixedDelay', /"0s": expected from 1ms to 1h/],
      ['fixedDelay over an hour', withFault({ delay: { fixedDelay: '2h' } }), 'spec.fault.delay.fixedDelay', /"2h": expected from 1ms to 1h/],
      [
        'percentage over 100',
        withFault({ delay: { fixedDelay: '1s', percentage: { value: 101 } } }),
        'spec.fault.delay.percentage.value',
        /101: expected a number from 0 to 100/,
      ],
      [
        'percentage negative',
        withFault({ abort: { httpStatus: 503, percentage: { value: -1 } } }),
        'spec.fault.abort.percentage.value',
        /-1: expected a number from 0 to 100/,
      ],
      [
        'percentage a string',
        withFault({ abort: { httpStatus: 503, percentage: { value: '30' } } }),
        'spec.fault.abort.percentage.value',
        /"30": expected a number/,
      ],
      ['percentage a bare number', withFault({ abort: { httpStatus: 503, percentage: 30 } }), 'spec.fault.abort.percentage', /30: expected an object/],
      [
        'percentage without value',
        withFault({ abort: { httpStatus: 503, percentage: {} } }),
        'spec.fault.abort.percentage.value',
        /missing: .*leave out percentage for 100/,
      ],
      ['abort without a status', withFault({ abort: { percentage: { value: 5 } } }), 'spec.fault.abort', /expected httpStatus or grpcStatus$/],
      [
        'abort with both statuses',
        withFault({ abort: { httpStatus: 503, grpcStatus: 'UNAVAILABLE' } }),
        'spec.fault.abort',
        /expected httpStatus or grpcStatus, not both/,
      ],
      ['httpStatus under 200', withFault({ abort: { httpStatus: 100 } }), 'spec.fault.abort.httpStatus', /100: expected an integer from 200 to 599/],
      ['httpStatus 600', withFault({ abort: { httpStatus: 600 } }), 'spec.fault.abort.httpStatus', /600: expected an integer from 200 to 599/],
      ['httpStatus a string', withFault({ abort: { httpStatus: '503' } }), 'spec.fault.abort.httpStatus', /"503": expected an integer/],
      [
        'grpcStatus as a number (Istio wants the name)',
        withFault({ abort: { grpcStatus: 14 } }),
        'spec.fault.abort.grpcStatus',
        /14: expected one of OK, CANCELLED/,
      ],
      ['grpcStatus in lower case', withFault({ abort: { grpcStatus: 'unavailable' } }), 'spec.fault.abort.grpcStatus', /"unavailable": expected one of/],
      ['match a list', { targetRefs: [routeRef], match: [], fault: abort503 }, 'spec.match', /\[\]: expected an object/],
      ['headers an object', withHeaders({ name: 'x' }), 'spec.match.headers', /expected a list of 0 to 16 items/],
      [
        '17 headers',
        withHeaders(Array.from({ length: 17 }, (_, i) => ({ name: `x-${i}`, value: 'v' }))),
        'spec.match.headers',
        /expected a list of 0 to 16 items/,
      ],
      ['a header without a name', withHeaders([{ value: 'v' }]), 'spec.match.headers[0].name', /missing: not a header name/],
      ['a header name with a colon', withHeaders([{ name: ':authority', value: 'v' }]), 'spec.match.headers[0].name', /":authority": not a header name/],
      ['a header name with a space', withHeaders([{ name: 'x chaos', value: 'v' }]), 'spec.match.headers[0].name', /"x chaos": not a header name/],
      [
        'a header named twice',
        withHeaders([
          { name: 'x-a', value: '1' },
          { name: 'X-A', value: '2' },
        ]),
        'spec.match.headers[1].name',
        /"X-A": header already matched by an earlier entry/,
      ],
      ['a header without a value', withHeaders([{ name: 'x-a' }]), 'spec.match.headers[0].value', /missing: expected a string of 1 to 4096/],
      ['an empty header value', withHeaders([{ name: 'x-a', value: '' }]), 'spec.match.headers[0].value', /"": expected a string of 1 to 4096/],
      ['a header value over 4096', withHeaders([{ name: 'x-a', value: 'v'.repeat(4097) }]), 'spec.match.headers[0].value', /expected a string of 1 to 4096/],
      [
        'another match type',
        withHeaders([{ name: 'x-a', type: 'Prefix', value: 'v' }]),
        'spec.match.headers[0].type',
        /"Prefix": expected one of Exact, RegularExpression/,
      ],
      [
        'a regex that does not compile',
        withHeaders([{ name: 'x-a', type: 'RegularExpression', value: '(a' }]),
        'spec.match.headers[0].value',
        /"\(a": not a regular expression/,
      ],
      [
        'a lookahead',
        withHeaders([{ name: 'x-a', type: 'RegularExpression', value: '(?!x).*' }]),
        'spec.match.headers[0].value',
        /lookahead and lookbehind are not supported/,
      ],
      [
        'a backreference',
        withHeaders([{ name: 'x-a', type: 'RegularExpression', value: '(a)\\1' }]),
        'spec.match.headers[0].value',
        /backreferences are not supported/,
      ],
      [
        'a nested repetition',
        withHeaders([{ name: 'x-a', type: 'RegularExpression', value: '(a+)+b' }]),
        'spec.match.headers[0].value',
        /can backtrack exponentially/,
      ],
      [
        'an over-long regex',
        withHeaders([{ name: 'x-a', type: 'RegularExpression', value: 'a'.repeat(1025) }]),
        'spec.match.headers[0].value',
        /a regular expression of 1025 characters, over 1024/,
      ],
    ];
    for (const [what, spec, field, message] of cases) {
      const err = failure(spec);
      assert.ok(err !== undefined, `${what}: accepted`);
      assert.equal(err.code, 'ERR_INVALID_POLICY', what);
      assert.equal(err.field, field, what);
      assert.ok(err.message.startsWith(`${field} `), `${what}: ${err.message}`);
      assert.match(err.message, message, what);
    }
  });
});

describe('compileHeaderRegex', () => {
  it('accepts the regexes RE2 accepts and that cannot backtrack exponentially', () => {
    const safe = [
      'curl/.*',
      '[a-z]+-[0-9]{1,3}',
      '(foo|bar)*',
      '(?:ab)+c',
      '(a+)?b',
      '(x){2,5}',
      '(a+b){1}',
      '\\(a+\\)+',
      '[(a+)]+',
      '(?<tenant>[a-z]+)-x',
      'a{2,}b',
      '{literal}+',
    ];
    for (const pattern of safe) assert.ok(compileHeaderRegex(pattern, 'f') instanceof RegExp, pattern);
  });

  it('refuses nested unbounded repetitions, lookaround and backreferences', () => {
    const cases: [string, RegExp][] = [
      ['(a+)+', /backtrack exponentially/],
      ['(a*)*', /backtrack exponentially/],
      ['(\\w+)*x', /backtrack exponentially/],
      ['(a+){2,}', /backtrack exponentially/],
      ['(a+){2,10}', /backtrack exponentially/],
      ['((a+)b)+', /backtrack exponentially/],
      ['((a+)?)*', /backtrack exponentially/],
      // Star height 2 is refused even where a separator makes it linear: the rule stays simple.
      ['(?:[a-z]+\\.)+com', /backtrack exponentially/],
      ['(a{3,})+', /backtrack exponentially/],
      ['(?=a)a', /lookahead/],
      ['(?<=a)b', /lookbehind/],
      ['(?<!a)b', /lookbehind/],
      ['(a)\\1', /backreferences/],
      ['(?<x>a)\\k<x>', /backreferences/],
    ];
    for (const [pattern, message] of cases) {
      assert.throws(
        () => compileHeaderRegex(pattern, 'spec.match.headers[0].value'),
        (err: unknown) => {
          assert.ok(err instanceof InvalidPolicyField, pattern);
          assert.equal(err.field, 'spec.match.headers[0].value', pattern);
          assert.match(err.message, message, pattern);
          assert.ok(err.message.includes(JSON.stringify(pattern)), `${pattern}: the message names the pattern`);
          return true;
        },
      );
    }
  });

  it('keeps a refused pattern from ever running: (a+)+b against a long non-matching value is not compiled', () => {
    // The reason the check exists: V8 takes exponential time on this one (2^30 paths here).
    assert.throws(() => compileHeaderRegex('(a+)+b', 'f'), /backtrack exponentially/);
    const linear = compileHeaderRegex('a+b', 'f');
    assert.equal(linear.test(`${'a'.repeat(30)}c`), false);
  });
});
