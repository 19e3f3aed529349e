// What every fuzz target shares: how many inputs to try (a short run by default, FUZZ_RUNS for
// the long one), the seed (random and printed, FUZZ_SEED to replay), a time bound per property,
// and the healthy client that keeps making requests alongside and must see no error.
import fc from 'fast-check';

/** Inputs per target: the short CI run unless FUZZ_RUNS asks for more. */
export function fuzzInputs(ciInputs: number): number {
  const asked = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(asked) && asked > 0 ? asked : ciInputs;
}

/** Whether this is the long run: its properties get more time, its tests a longer timeout. */
export const longRun = Number(process.env.FUZZ_RUNS) > 0;

/** Per-property bound: a long run stops adding inputs after this (FUZZ_SECONDS, default 600 s). */
const timeLimitMs = (Number(process.env.FUZZ_SECONDS) || 600) * 1000;

/** A test timeout generous enough for `inputs` in the long run, the mocha default otherwise. */
export function fuzzTimeoutMs(): number {
  return longRun ? timeLimitMs * 4 + 60_000 : 60_000;
}

export interface FuzzTally {
  target: string;
  kind: string;
  inputs: number;
  seconds: number;
  seed: number;
}

/** Every property's tally this process ran, for the summary the long run prints. */
export const tallies: FuzzTally[] = [];

/**
 * Runs `check` over batches of `batch` inputs drawn from `arb` until `inputs` have been tried:
 * a batch is sent at once (concurrently) because each input waits on a socket; the check's
 * error names the input that failed. Fails with
 * fast-check's report (seed, path, shrunk counterexample) when `check` throws.
 */
export async function fuzz<T>(
  target: string,
  kind: string,
  arb: fc.Arbitrary<T>,
  opts: { inputs: number; batch: number },
  check: (input: T) => Promise<void>,
): Promise<FuzzTally> {
  let tried = 0;
  const started = performance.now();
  const seedText = process.env.FUZZ_SEED;
  const batch = Math.max(1, Math.min(opts.batch, opts.inputs));
  const property = fc.asyncProperty(fc.array(arb, { minLength: batch, maxLength: batch }), async (inputs) => {
    tried += inputs.length;
    // Every input of the batch settles before the first failure is reported, so no socket of
    // this batch is still open when fast-check moves on (or shrinks).
    const results = await Promise.allSettled(inputs.map(check));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  const details = await fc.check(property, {
    numRuns: Math.max(1, Math.ceil(opts.inputs / batch)),
    ...(seedText ? { seed: Number(seedText) } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    plugins: [fc.interruptAfterTimeLimit(timeLimitMs)],
    endOnFailure: process.env.FUZZ_SHRINK !== '1',
  });
  const tally = { target, kind, inputs: tried, seconds: Math.round((performance.now() - started) / 100) / 10, seed: details.seed };
  tallies.push(tally);
  console.log(`      fuzz ${target} / ${kind}: ${tally.inputs} inputs in ${tally.seconds} s (seed ${tally.seed})`);
  if (details.failed) {
    // The check's own error names the input that failed; fast-check's counterexample is the
    // whole batch (bodies of megabytes), so only its head is kept.
    const cause = details.errorInstance as Error | null;
    const report = fc.defaultReportMessage(details) ?? '';
    const replay = `FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''}`;
    throw new FuzzFailure(
      `${target} / ${kind}: ${cause?.message ?? 'failed'}\nreplay with ${replay}\n${report.slice(0, 1500)}${report.length > 1500 ? ' …' : ''}`,
    );
  }
  return tally;
}

export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

export interface HealthyRun {
  ok: number;
  errors: string[];
}

/**
 * A well-behaved client running alongside the fuzzing: `request` in a loop (one at a time,
 * `pauseMs` apart) until stopped. Every error is kept with what it said.
 */
export function startHealthyClient(request: () => Promise<void>, pauseMs = 5): { stop(): Promise<HealthyRun> } {
  const run: HealthyRun = { ok: 0, errors: [] };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        await request();
        run.ok++;
      } catch (err) {
        run.errors.push(String((err as Error)?.stack ?? err));
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return run;
    },
  };
}

/** Resolves with `promise`, or rejects naming `what` once `ms` pass: a hang is a finding. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FuzzFailure(`hang: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
