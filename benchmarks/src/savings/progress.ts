// Where a savings run is: step k of n, the mode and pod count being measured, time elapsed and
// an ETA (the mean of the finished steps times what is left). On a terminal it is one bar,
// redrawn in place every second and on resize; anywhere else (CI logs, a pipe) it is one plain
// line per step, no control characters. Drawing never throws: a progress bar must not be what
// fails a forty-minute run.
import type { SavingsMode } from './savings-result.ts';

/** What the bar writes to: process.stdout, or a stand-in in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
  on?(event: 'resize', listener: () => void): unknown;
  off?(event: 'resize', listener: () => void): unknown;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h) return `${h}h${pad(m)}m${pad(s % 60)}s`;
  if (m) return `${m}m${pad(s % 60)}s`;
  return `${s}s`;
}

export class SavingsProgress {
  readonly #total: number;
  readonly #stream: ProgressStream;
  readonly #now: () => number;
  readonly #tty: boolean;
  readonly #started: number;
  #step = 0;
  #stepStarted = 0;
  #label = '';
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #onResize = (): void => this.#draw();

  constructor(total: number, opts: { stream?: ProgressStream; now?: () => number } = {}) {
    if (!Number.isInteger(total) || total <= 0) throw new Error(`progress: total steps must be a positive integer, got ${total}`);
    this.#total = total;
    this.#stream = opts.stream ?? process.stdout;
    this.#now = opts.now ?? Date.now;
    this.#tty = this.#stream.isTTY === true;
    this.#started = this.#now();
    if (this.#tty) {
      this.#stream.on?.('resize', this.#onResize);
      this.#timer = setInterval(() => this.#draw(), 1000);
      this.#timer.unref?.();
    }
  }

  /** Begins the next step (the previous one counts as done). */
  step(mode: SavingsMode, pods: number): void {
    if (this.#step >= this.#total) throw new Error(`progress: step ${this.#step + 1} of ${this.#total}`);
    this.#step++;
    this.#stepStarted = this.#now();
    this.#label = `${mode}, ${pods} pods`;
    if (this.#tty) this.#draw();
    else this.#write(`[savings ${this.#line()}]\n`);
  }

  /** A message above the bar (or a plain line). */
  log(message: string): void {
    this.#write(this.#tty ? `\r\x1b[2K${message}\n` : `${message}\n`);
    if (this.#tty) this.#draw();
  }

  /** Stops redrawing and leaves a final line. */
  finish(message = 'done'): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stream.off?.('resize', this.#onResize);
    const line = `[savings] ${message}: ${this.#step}/${this.#total} steps in ${formatDuration(this.#now() - this.#started)}\n`;
    this.#write(this.#tty ? `\r\x1b[2K${line}` : line);
  }

  /** `3/12 sidecar, 96 pods  elapsed 4m12s  ETA 9m30s`. */
  #line(): string {
    const now = this.#now();
    const done = this.#step - 1;
    let eta = '?';
    if (done > 0) {
      const perStep = (this.#stepStarted - this.#started) / done;
      eta = formatDuration(Math.max(0, perStep - (now - this.#stepStarted)) + perStep * (this.#total - this.#step));
    }
    return `${this.#step}/${this.#total} ${this.#label}  elapsed ${formatDuration(now - this.#started)}  ETA ${eta}`;
  }

  #draw(): void {
    if (this.#step === 0) return;
    try {
      const cols = Number.isInteger(this.#stream.columns) && this.#stream.columns! > 0 ? this.#stream.columns! : 80;
      const text = this.#line();
      const barWidth = Math.min(30, cols - text.length - 4);
      let line = text;
      if (barWidth >= 5) {
        const filled = Math.round((barWidth * (this.#step - 1)) / this.#total);
        line = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${text}`;
      }
      // One column short of the width: a full line would wrap on some terminals and leave a copy.
      this.#write(`\r\x1b[2K${line.slice(0, Math.max(1, cols - 1))}`);
    } catch {
      // a terminal that went away mid-run: keep measuring
    }
  }

  #write(s: string): void {
    try {
      this.#stream.write(s);
    } catch {
      // see #draw
    }
  }
}
