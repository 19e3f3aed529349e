// The mesh.ambient.dev policy parsers (`@ambient/api/mesh-policy`) under hostile specs: istiod-lite
// runs them on whatever a user applies (to write the status) and the waypoint on what istiod-lite
// delivers (to enforce it). Each must either return a spec or throw `InvalidPolicyField` naming a
// `spec...` field; any other error would be a crash in the control plane's model or a waypoint's
// config update. Inputs mix random JSON with near-valid specs (valid shapes with one field
// mutated), so the field checks deep inside are reached, not only the first `typeof`.
import assert from 'node:assert/strict';
import { InvalidPolicyField, parseBackendTrafficPolicy, parseFaultInjectionPolicy, parseRateLimitPolicy } from '@ambient/api/mesh-policy';
import fc from 'fast-check';
import { fuzz, fuzzInputs, fuzzTimeoutMs } from './fuzz-harness.ts';

/** Strings that hit the parsers' grammars: durations, CEL-ish expressions, regexes, names. */
const tricky = fc.oneof(
  fc.string(),
  fc.constantFrom('1m', '0s', '500ms', '99999h', '1.5s', '', 'Service', 'HTTPRoute', 'Redis', 'Local', 'Open', 'UNAVAILABLE', 'x'),
  fc.constantFrom(
    "request.headers['x-user']",
    'source.principal',
    "request.method == 'POST'",
    "request.path.matches('(a+)+')",
    "request.path.startsWith('",
    '(',
    '(?=x)',
    '\\1',
  ),
  fc.stringMatching(/^[a-z0-9.\-[\]'"()=!_ ]{0,40}$/),
);
const leaf = fc.oneof(tricky, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(tricky, tie('value'), { maxKeys: 5 })),
})).value;

const targetRefs = [{ group: '', kind: 'Service', name: 'reviews' }];
const valid: Record<string, object> = {
  RateLimitPolicy: {
    targetRefs,
    limits: { api: { rates: [{ limit: 10, window: '1m' }], counters: [{ expression: 'source.principal' }], when: [{ predicate: "request.method == 'GET'" }] } },
    store: { type: 'Redis', address: 'redis:6379', failureMode: 'Open', timeout: '50ms' },
  },
  FaultInjectionPolicy: {
    targetRefs,
    match: { headers: [{ name: 'x-chaos', type: 'RegularExpression', value: '^on$' }] },
    fault: { delay: { fixedDelay: '1s', percentage: { value: 10 } }, abort: { httpStatus: 503, percentage: { value: 1 } } },
  },
  BackendTrafficPolicy: { targetRefs, retryConstraint: { budget: { percent: 20, interval: '10s' }, minRetryRate: { count: 10, interval: '1s' } } },
};
const parsers: Record<string, (spec: unknown) => unknown> = {
  RateLimitPolicy: parseRateLimitPolicy,
  FaultInjectionPolicy: parseFaultInjectionPolicy,
  BackendTrafficPolicy: parseBackendTrafficPolicy,
};

/** A valid spec with the value at one path (a list of keys into it) replaced. */
function mutate(spec: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value;
  if (spec === null || typeof spec !== 'object') return spec;
  const copy: Record<string, unknown> = Array.isArray(spec) ? ([...spec] as never) : { ...(spec as Record<string, unknown>) };
  const [head, ...rest] = path;
  copy[head!] = mutate(copy[head!], rest, value);
  return copy;
}

/** Every path to a value in `v`. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  if (v === null || typeof v !== 'object') return [prefix];
  return [prefix, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...prefix, k]))];
}

const spec = (kind: string) =>
  fc.oneof(
    json,
    fc.tuple(fc.constantFrom(...paths(valid[kind])), json).map(([path, value]) => mutate(valid[kind], path, value)),
    fc
      .tuple(fc.constantFrom(...paths(valid[kind])), fc.constantFrom(undefined, null, 0, -1, '', [], {}))
      .map(([path, value]) => mutate(valid[kind], path, value)),
  );

describe('fuzz: the mesh.ambient.dev policy parsers (istiod-lite status, waypoint enforcement)', function () {
  this.timeout(fuzzTimeoutMs());

  for (const kind of Object.keys(parsers)) {
    it(`${kind}: every spec parses or is refused with InvalidPolicyField naming a spec field`, async () => {
      assert.doesNotThrow(() => parsers[kind]!(valid[kind]), 'the valid spec itself parses');
      let refused = 0;
      await fuzz('mesh-policy', kind, spec(kind), { inputs: fuzzInputs(2000), batch: 50 }, async (input) => {
        try {
          parsers[kind]!(input);
        } catch (err) {
          if (!(err instanceof InvalidPolicyField))
            throw new Error(`${kind} threw ${(err as Error)?.name}: ${(err as Error)?.message} on ${JSON.stringify(input)?.slice(0, 300)}`);
          if (!err.field.startsWith('spec')) throw new Error(`${kind} named field ${JSON.stringify(err.field)} on ${JSON.stringify(input)?.slice(0, 300)}`);
          refused++;
        }
      });
      assert.ok(refused > 0, 'some inputs were refused (the fuzzer reached the checks)');
    });
  }
});
