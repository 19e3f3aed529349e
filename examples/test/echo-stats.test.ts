import assert from 'node:assert/strict';
import { FailureSchedule, failsAt, firstSegment, MAX_PATH_KEYS, RequestStats } from '../echo/echo-stats.ts';

const outcomes = (percent: number, from: number, n: number): string => Array.from({ length: n }, (_, i) => (failsAt(from + i, percent) ? 'F' : '.')).join('');

describe('the /fail schedule', () => {
  for (const [percent, first12] of [
    [50, '.F.F.F.F.F.F'],
    [100, 'FFFFFFFFFFFF'],
    [0, '............'],
    [25, '...F...F...F'],
    [10, '.........F..'],
    [75, '.FFF.FFF.FFF'],
    [33, '...F..F..F..'],
  ] as const) {
    it(`${percent}% runs ${first12}`, () => assert.equal(outcomes(percent, 0, 12), first12));
  }

  it('puts exactly p failures in any 100 consecutive requests, for every p', () => {
    for (let p = 0; p <= 100; p++) {
      for (const from of [0, 37, 1000]) {
        assert.equal([...outcomes(p, from, 100)].filter((c) => c === 'F').length, p, `p=${p} from ${from}`);
      }
    }
  });

  it('counts each percent value on its own, so interleaved paths keep their pattern', () => {
    const schedule = new FailureSchedule();
    const seen = [50, 10, 50, 10, 50, 100, 50].map((p) => `${p}:${schedule.next(p) ? 'F' : '.'}`);
    assert.deepEqual(seen, ['50:.', '10:.', '50:F', '10:.', '50:.', '100:F', '50:F']);
  });

  it('starts over after reset', () => {
    const schedule = new FailureSchedule();
    assert.equal(schedule.next(50), false);
    assert.equal(schedule.next(50), true);
    schedule.next(50);
    schedule.reset();
    assert.equal(schedule.next(50), false);
    assert.equal(schedule.next(50), true);
  });
});

describe('RequestStats', () => {
  for (const [pathname, segment] of [
    ['/', ''],
    ['/fail/50/503', 'fail'],
    ['/status', 'status'],
    ['/status/', 'status'],
    ['/ambient.echo.v1.Echo/Say', 'ambient.echo.v1.Echo'],
  ] as const) {
    it(`files ${pathname} under ${JSON.stringify(segment)}`, () => assert.equal(firstSegment(pathname), segment));
  }

  it('counts requests in total and by first path segment', () => {
    const stats = new RequestStats();
    for (const p of ['/fail/50', '/fail/50/500', '/', '/status/200', '/fail/10']) stats.record(p);
    assert.deepEqual(stats.snapshot('echo-1', 'v2'), { pod: 'echo-1', version: 'v2', requests: 5, byPath: { fail: 3, '': 1, status: 1 } });
  });

  it(`keeps at most ${MAX_PATH_KEYS} path keys and counts the rest under "other"`, () => {
    const stats = new RequestStats();
    for (let i = 0; i < MAX_PATH_KEYS + 20; i++) stats.record(`/p${i}/x`);
    stats.record('/p0');
    stats.record(`/p${MAX_PATH_KEYS + 5}`);
    const { requests, byPath } = stats.snapshot('', '');
    assert.equal(requests, MAX_PATH_KEYS + 22);
    assert.equal(Object.keys(byPath).length, MAX_PATH_KEYS + 1);
    assert.equal(byPath.p0, 2, 'a key kept before the cap still counts');
    assert.equal(byPath.other, 21);
    assert.equal(byPath[`p${MAX_PATH_KEYS + 5}`], undefined);
  });

  it('zeroes on reset', () => {
    const stats = new RequestStats();
    stats.record('/a');
    stats.reset();
    assert.deepEqual(stats.snapshot('p', 'v1'), { pod: 'p', version: 'v1', requests: 0, byPath: {} });
    stats.record('/b');
    assert.deepEqual(stats.snapshot('p', 'v1').byPath, { b: 1 });
  });
});
