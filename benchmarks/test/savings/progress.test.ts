// The progress bar on a pretend terminal and on a pipe: step k/n, mode and pods, elapsed and ETA;
// plain lines without control characters when not a TTY; a resize to any width never throws.
import assert from 'node:assert/strict';
import { mock } from 'node:test';
import { formatDuration, type ProgressStream, SavingsProgress } from '../../src/savings/progress.ts';

class FakeStream implements ProgressStream {
  out = '';
  readonly isTTY: boolean;
  columns: number | undefined;
  #resize: (() => void)[] = [];
  constructor(isTTY: boolean, columns?: number) {
    this.isTTY = isTTY;
    this.columns = columns;
  }
  write(chunk: string): boolean {
    this.out += chunk;
    return true;
  }
  on(_event: 'resize', listener: () => void): void {
    this.#resize.push(listener);
  }
  off(_event: 'resize', listener: () => void): void {
    this.#resize = this.#resize.filter((l) => l !== listener);
  }
  resize(columns: number | undefined): void {
    this.columns = columns;
    for (const l of this.#resize) l();
  }
  get listeners(): number {
    return this.#resize.length;
  }
  /** What a terminal shows on the current line: the text after the last carriage return. */
  get screenLine(): string {
    const last = this.out.slice(this.out.lastIndexOf('\r') + 1);
    return last.replace('\x1b[2K', '');
  }
}

describe('savings: progress', () => {
  let now = 0;
  const clock = (): number => now;
  beforeEach(() => {
    now = 1_000_000;
    mock.timers.enable({ apis: ['setInterval'] });
  });
  afterEach(() => mock.timers.reset());

  it('formats durations', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(59_400), '59s');
    assert.equal(formatDuration(252_000), '4m12s');
    assert.equal(formatDuration(3_723_000), '1h02m03s');
    assert.equal(formatDuration(-5), '0s');
  });

  it('prints one plain line per step when not a terminal, with an ETA from the finished steps', () => {
    const s = new FakeStream(false);
    const p = new SavingsProgress(12, { stream: s, now: clock });
    p.step('sidecar', 24);
    now += 120_000;
    p.step('sidecar', 48);
    now += 180_000;
    p.step('sidecar', 96);
    p.log('sidecar at 96 pods: 96 proxies ready');
    now += 30_000;
    p.finish('stopped');
    assert.equal(
      s.out,
      [
        '[savings 1/12 sidecar, 24 pods  elapsed 0s  ETA ?]',
        // one step took 2 min: 11 more at 2 min (the current one just begun)
        '[savings 2/12 sidecar, 48 pods  elapsed 2m00s  ETA 22m00s]',
        // two steps took 5 min: 2.5 min each, 10 more
        '[savings 3/12 sidecar, 96 pods  elapsed 5m00s  ETA 25m00s]',
        'sidecar at 96 pods: 96 proxies ready',
        '[savings] stopped: 3/12 steps in 5m30s',
        '',
      ].join('\n'),
    );
    assert.ok(!s.out.includes('\r') && !s.out.includes('\x1b'), 'no control characters in a log');
  });

  it('redraws one line in place on a terminal, every second, with a bar', () => {
    const s = new FakeStream(true, 100);
    const p = new SavingsProgress(4, { stream: s, now: clock });
    p.step('sidecar', 24);
    now += 60_000;
    p.step('ambient-l4', 24);
    assert.equal(s.screenLine, '[########----------------------] 2/4 ambient-l4, 24 pods  elapsed 1m00s  ETA 3m00s');
    now += 20_000;
    mock.timers.tick(1000);
    assert.equal(s.screenLine, '[########----------------------] 2/4 ambient-l4, 24 pods  elapsed 1m20s  ETA 2m40s');
    assert.doesNotMatch(s.out, /\n/, 'redraws never scroll');
    p.finish();
    assert.equal(s.screenLine, '[savings] done: 2/4 steps in 1m20s\n');
    const before = s.out;
    mock.timers.tick(5000);
    assert.equal(s.out, before, 'no redraw after finish');
    assert.equal(s.listeners, 0, 'the resize listener is removed');
  });

  it('fits the line to the terminal width on resize, and survives any width', () => {
    const s = new FakeStream(true, 120);
    const p = new SavingsProgress(12, { stream: s, now: clock });
    p.step('ambient-waypoint', 144);
    assert.match(s.screenLine, /^\[-+\] 1\/12 ambient-waypoint, 144 pods/);
    s.resize(40);
    assert.equal(s.screenLine.length, 39);
    assert.equal(s.screenLine, '1/12 ambient-waypoint, 144 pods  elapse');
    for (const w of [0, 1, -3, Number.NaN, undefined, 2.5]) assert.doesNotThrow(() => s.resize(w));
    s.resize(undefined);
    assert.match(s.screenLine, /^\[-+\] 1\/12 ambient-waypoint, 144 pods {2}elapsed 0s {2}ETA \?$/, 'an unknown width counts as 80');
    p.finish();
  });

  it('keeps going when the terminal write throws', () => {
    const s = new FakeStream(true, 80);
    const p = new SavingsProgress(2, { stream: s, now: clock });
    s.write = () => {
      throw new Error('EPIPE');
    };
    assert.doesNotThrow(() => {
      p.step('sidecar', 24);
      s.resize(60);
      mock.timers.tick(1000);
      p.log('x');
      p.finish();
    });
  });

  it('refuses a step past the total and a total that is not a count', () => {
    const p = new SavingsProgress(1, { stream: new FakeStream(false), now: clock });
    p.step('sidecar', 24);
    assert.throws(() => p.step('sidecar', 48), /progress: step 2 of 1/);
    assert.throws(() => new SavingsProgress(0, { stream: new FakeStream(false) }), /positive integer, got 0/);
  });
});
