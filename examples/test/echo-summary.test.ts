import assert from 'node:assert/strict';
import { replyFacts } from '../echo/echo-client.ts';
import { echoIdentity, percentile, summarize } from '../echo/echo-summary.ts';

describe('--summary', () => {
  it('counts statuses, versions, pods and errors, and takes latency percentiles over the answered requests', () => {
    const summary = summarize(6, [
      { status: '200', error: false, version: 'v1', pod: 'echo-a', durationMs: 10 },
      { status: '200', error: false, version: 'v2', pod: 'echo-b', durationMs: 30 },
      { status: '503', error: false, version: 'v1', pod: 'echo-a', durationMs: 20 },
      // A proxy's own answer (no echo body): a status, but no version or pod to count.
      { status: '503', error: false, durationMs: 40 },
      { error: true },
      { error: true },
    ]);
    assert.deepEqual(summary, {
      sent: 6,
      byStatus: { '200': 2, '503': 2 },
      byVersion: { v1: 2, v2: 1 },
      byPod: { 'echo-a': 2, 'echo-b': 1 },
      errors: 2,
      p50Ms: 20,
      p90Ms: 40,
      p99Ms: 40,
    });
  });

  it('reports null percentiles when nothing answered', () => {
    assert.deepEqual(summarize(2, [{ error: true }, { error: true }]), {
      sent: 2,
      byStatus: {},
      byVersion: {},
      byPod: {},
      errors: 2,
      p50Ms: null,
      p90Ms: null,
      p99Ms: null,
    });
  });

  it('keeps gRPC codes of failed calls in the status counts but out of the latencies', () => {
    const summary = summarize(3, [
      { status: 'OK', error: false, version: 'v1', pod: 'a', durationMs: 5 },
      { status: 'UNAVAILABLE', error: true },
      { status: 'OK', error: false, version: 'v2', pod: 'b', durationMs: 7 },
    ]);
    assert.deepEqual(summary.byStatus, { OK: 2, UNAVAILABLE: 1 });
    assert.equal(summary.errors, 1);
    assert.equal(summary.p99Ms, 7);
  });

  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  for (const [sorted, p, expected] of [
    [[], 50, null],
    [[7], 50, 7],
    [[7], 99, 7],
    [[1, 2], 50, 1],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 90, 4],
    [hundred, 50, 50],
    [hundred, 90, 90],
    [hundred, 99, 99],
    [[1.234, 5.678], 99, 5.7],
  ] as const) {
    it(`p${p} of ${sorted.length > 4 ? `1..${sorted.length}` : JSON.stringify(sorted)} is ${expected} (nearest rank)`, () => {
      assert.equal(percentile(sorted, p), expected);
    });
  }

  for (const [body, identity] of [
    [
      { pod: 'echo-a', version: 'v2', url: '/' },
      { pod: 'echo-a', version: 'v2' },
    ],
    [
      { pod: 'echo-a', version: '' },
      { pod: 'echo-a', version: '' },
    ],
    [{ pod: 7 }, {}],
    ['upstream connect error', {}],
    [null, {}],
  ] as const) {
    it(`reads ${JSON.stringify(identity)} from a body ${JSON.stringify(body)}`, () => assert.deepEqual(echoIdentity(body), identity));
  }

  describe('replyFacts (HTTP)', () => {
    it('is an error without a status', () => {
      assert.deepEqual(replyFacts({ request: 1, error: 'connect ECONNREFUSED' }), { error: true });
    });
    it('takes the status, the echo identity and the duration of an answer, whatever its status', () => {
      assert.deepEqual(replyFacts({ request: 1, status: 503, durationMs: 3.5, body: { pod: 'p', version: 'v1' } }), {
        status: '503',
        error: false,
        pod: 'p',
        version: 'v1',
        durationMs: 3.5,
      });
    });
    it('counts an answer cut short under its status and as an error, without a latency', () => {
      assert.deepEqual(replyFacts({ request: 1, status: 200, durationMs: 3.5, error: 'aborted' }), { status: '200', error: true });
    });
  });
});
