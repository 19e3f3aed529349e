// Flame graphs of V8 CPU profiles (the `.cpuprofile` files `node --cpu-prof` writes; the mesh's
// components write one each with MESH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR'). For each
// profile, NAME.svg (the graph) and NAME.txt (samples, idle share, top functions) in --out, by
// default beside the profile.
//
//   npm run flamegraph -- DIR/*.cpuprofile [--out DIR] [--title T] [--min-percent 0.2]
//
// Exit 2 on a usage error; exit 1 when a profile could not be read (the others are still drawn).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCpuProfile } from './flamegraph/cpu-profile.ts';
import { renderFlameGraphSvg } from './flamegraph/flame-graph-svg.ts';
import { buildFrameTree } from './flamegraph/frame-tree.ts';
import { renderProfileSummary, summarizeFrameTree } from './flamegraph/profile-summary.ts';

export const USAGE = 'usage: npm run flamegraph -- PROFILE.cpuprofile... [--out DIR] [--title T] [--min-percent 0.2]';

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export type FlameGraphJob = {
  profile: string;
  /** The file name without `.cpuprofile`: NAME.svg, NAME.txt. */
  name: string;
  svg: string;
  txt: string;
};

export type FlameGraphArgs = { help: boolean; jobs: FlameGraphJob[]; title: string | undefined; minPercent: number };

/** The command line as jobs, one per profile; throws UsageError. */
export function parseFlameGraphArgs(argv: readonly string[]): FlameGraphArgs {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true, jobs: [], title: undefined, minPercent: 0 };
  if (positionals.length === 0) throw new UsageError('no profile given');
  const minPercent = Number(values['min-percent']);
  if (values['min-percent'] === '' || !(minPercent >= 0 && minPercent <= 100))
    throw new UsageError(`--min-percent must be a number from 0 to 100, got '${values['min-percent']}'`);
  if (values.out === '') throw new UsageError('--out needs a directory');

  const jobs = positionals.map((profile): FlameGraphJob => {
    const name = basename(profile, extname(profile));
    const dir = values.out ?? dirname(profile);
    return { profile, name, svg: join(dir, `${name}.svg`), txt: join(dir, `${name}.txt`) };
  });
  const seen = new Map<string, string>();
  for (const job of jobs) {
    const other = seen.get(resolve(job.svg));
    if (other !== undefined) throw new UsageError(`${other} and ${job.profile} would both be drawn to ${job.svg}`);
    seen.set(resolve(job.svg), job.profile);
  }
  return { help: false, jobs, title: values.title, minPercent };
}

function parseCli(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' }, out: { type: 'string' }, title: { type: 'string' }, 'min-percent': { type: 'string', default: '0.2' } },
  });
}

/** Reads one profile and writes its graph and summary; returns the line to print. */
export function drawFlameGraph(job: FlameGraphJob, title: string | undefined, minPercent: number): string {
  const profile = parseCpuProfile(readFileSync(job.profile, 'utf8'), job.profile);
  const tree = buildFrameTree(profile);
  const summary = summarizeFrameTree(tree);
  const seconds = (tree.durationMicros / 1e6).toFixed(2);
  const idle = tree.samples === 0 ? 0 : (100 * tree.idleSamples) / tree.samples;
  const facts = `${tree.samples} samples over ${seconds} s, idle ${idle.toFixed(1)}%`;
  const svg = renderFlameGraphSvg(tree, {
    title: title ?? job.name,
    subtitle: `${basename(job.profile)}: ${facts}; frames under ${minPercent}% of the samples left out`,
    minPercent,
  });
  mkdirSync(dirname(job.svg), { recursive: true });
  writeFileSync(job.svg, svg);
  writeFileSync(job.txt, renderProfileSummary(basename(job.profile), summary));
  return `${job.profile}: ${facts} -> ${job.svg}, ${job.txt}`;
}

if (import.meta.main) {
  let args: FlameGraphArgs;
  try {
    args = parseFlameGraphArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`flamegraph: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    process.exit(0);
  }
  let failed = 0;
  for (const job of args.jobs) {
    try {
      console.log(drawFlameGraph(job, args.title, args.minPercent));
    } catch (err) {
      // A profile that is not one (or cannot be read) is reported by name; the rest are drawn.
      console.error(`flamegraph: ${(err as Error).message}`);
      failed++;
    }
  }
  process.exit(failed > 0 ? 1 : 0);
}
