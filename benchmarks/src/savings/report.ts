// The memory-savings report: from one SavingsRun, a Markdown page, an HTML page (charts inline,
// no external resources, so it opens offline), the charts as SVG and PNG, and the raw run as
// JSON, in one directory (benchmarks/results/ by default). Both pages are rendered from the same
// blocks (report-blocks below), so they never disagree; the figures come from savings-result.ts.
// Charts: Vega-Lite specs compiled and rendered to SVG by Vega headlessly (no browser, no
// canvas), rasterized to PNG by resvg. Run alone, it renders a saved run again:
//   npx node benchmarks/src/savings/report.ts benchmarks/results/savings-<stamp>.json [--out DIR]
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import {
  evaluateTargets,
  findPoint,
  missingPoints,
  type PointTotals,
  parseSavingsRun,
  podCounts,
  pointTotals,
  type Ratio,
  SAVINGS_MODES,
  type SavingsMode,
  type SavingsPoint,
  type SavingsRun,
  savingsRatios,
  type TargetStatus,
} from './savings-result.ts';

export const defaultResultsDir = resolve(import.meta.dirname, '../../results');

const MiB = 1024 * 1024;
const modeColors: Record<SavingsMode, string> = { sidecar: '#d62728', 'ambient-l4': '#1f77b4', 'ambient-waypoint': '#2ca02c' };
const modeLabels: Record<SavingsMode, string> = { sidecar: 'sidecar', 'ambient-l4': 'ambient L4 (ztunnels)', 'ambient-waypoint': 'ambient + waypoints' };

// ---- charts -------------------------------------------------------------------------------

export type ChartName = 'memory' | 'cpu' | 'latency';
export interface Chart {
  name: ChartName;
  title: string;
  svg: string;
}

const colorScale = { domain: [...SAVINGS_MODES], range: SAVINGS_MODES.map((m) => modeColors[m]) };
const podsAxis = (run: SavingsRun) => ({
  field: 'pods',
  type: 'quantitative' as const,
  title: 'application pods',
  scale: { domain: [0, Math.max(1, ...podCounts(run))] },
  axis: { values: podCounts(run) },
});

/** The three charts' Vega-Lite specs, from the run's measured points only. */
export function chartSpecs(run: SavingsRun): Record<ChartName, { title: string; spec: TopLevelSpec }> {
  const totals = run.points.map((p) => ({ p, t: pointTotals(p) }));
  const config = { background: 'white', font: 'sans-serif', view: { stroke: '#ddd' } };
  // An empty chart says so, rather than looking like a rendering fault.
  const none = run.points.length ? '' : ' (nothing measured)';
  return {
    memory: {
      title: 'Proxy memory vs application pods',
      spec: {
        title: { text: 'Proxy memory, sum over all proxies', subtitle: `PSS solid, RSS dashed; log scale${none}` },
        config,
        width: 520,
        height: 320,
        data: {
          values: totals.flatMap(({ p, t }) =>
            (['PSS', 'RSS'] as const).map((measure) => ({ mode: p.mode, pods: p.pods, measure, mib: (measure === 'PSS' ? t.pssBytes : t.rssBytes) / MiB })),
          ),
        },
        transform: [{ filter: 'datum.mib > 0' }],
        encoding: {
          x: podsAxis(run),
          y: { field: 'mib', type: 'quantitative', title: 'MiB', scale: { type: 'log' } },
          color: { field: 'mode', type: 'nominal', title: 'mode', scale: colorScale },
        },
        // Lines and points in two layers: with `point: true` the dash legend would draw filled
        // dots, not the dashes it stands for.
        layer: [
          {
            mark: 'line',
            encoding: {
              strokeDash: {
                field: 'measure',
                type: 'nominal',
                title: 'memory',
                scale: {
                  domain: ['PSS', 'RSS'],
                  range: [
                    [1, 0],
                    [6, 4],
                  ],
                },
                legend: { symbolType: 'stroke', symbolStrokeColor: '#444', symbolStrokeWidth: 2 },
              },
            },
          },
          { mark: { type: 'point', filled: true }, encoding: { detail: { field: 'measure' } } },
        ],
      },
    },
    cpu: {
      title: 'Proxy CPU seconds vs application pods',
      spec: {
        title: { text: 'Proxy CPU seconds over the load phase, sum over all proxies', subtitle: `utime + stime; log scale${none}` },
        config,
        width: 520,
        height: 320,
        data: { values: totals.map(({ p, t }) => ({ mode: p.mode, pods: p.pods, cpu: t.cpuSeconds })) },
        transform: [{ filter: 'datum.cpu > 0' }],
        mark: { type: 'line', point: true },
        encoding: {
          x: podsAxis(run),
          y: { field: 'cpu', type: 'quantitative', title: 'CPU seconds', scale: { type: 'log' } },
          color: { field: 'mode', type: 'nominal', title: 'mode', scale: colorScale },
        },
      },
    },
    latency: {
      title: 'Latency p50 / p90 / p99 per mode',
      spec: {
        title: { text: 'Request latency per mode', subtitle: `p50, p90, p99 of the same load; each panel its own scale${none}` },
        config,
        data: {
          values: run.points.flatMap((p) =>
            (['p50', 'p90', 'p99'] as const).map((percentile) => ({ mode: p.mode, pods: p.pods, percentile, ms: p.latencyMs[percentile] })),
          ),
        },
        mark: 'bar',
        encoding: {
          column: { field: 'percentile', type: 'ordinal', title: null, sort: ['p50', 'p90', 'p99'] },
          x: { field: 'pods', type: 'ordinal', title: 'application pods', sort: 'ascending', axis: { labelAngle: 0 } },
          xOffset: { field: 'mode', type: 'nominal', sort: [...SAVINGS_MODES] },
          y: { field: 'ms', type: 'quantitative', title: 'ms' },
          color: { field: 'mode', type: 'nominal', title: 'mode', scale: colorScale },
        },
        resolve: { scale: { y: 'independent' } },
      },
    },
  };
}

/** Vega-Lite → Vega → SVG, with no browser: the 'none' renderer and the SVG string renderer. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const dejavu = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];

/** PNG at twice the SVG's size. Text needs a font: DejaVu Sans (Debian's fonts-dejavu-core) when
 *  it is there, loaded alone (fast), else whatever the system has. */
export function renderPng(svg: string): Buffer {
  const haveDejavu = dejavu.every((f) => existsSync(f));
  const font: ResvgRenderOptions['font'] = haveDejavu
    ? { loadSystemFonts: false, fontFiles: dejavu, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' }
    : { loadSystemFonts: true };
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font }).render().asPng();
}

export async function renderCharts(run: SavingsRun): Promise<Chart[]> {
  const specs = chartSpecs(run);
  const out: Chart[] = [];
  for (const name of Object.keys(specs) as ChartName[]) out.push({ name, title: specs[name].title, svg: await renderSvg(specs[name].spec) });
  return out;
}

// ---- report blocks (one content, two renderers) --------------------------------------------

export type Block =
  | { kind: 'h'; level: 1 | 2 | 3; text: string }
  | { kind: 'p'; text: string }
  | { kind: 'banner'; text: string }
  | { kind: 'table'; header: string[]; rows: string[][]; numeric?: boolean[] }
  | { kind: 'code'; lines: string[] }
  | { kind: 'chart'; name: ChartName; title: string };

const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
const pct = (r: Ratio): string => (r.value === null ? 'not measured' : `${(r.value * 100).toFixed(2)}%`);
const ms = (v: number): string => v.toFixed(2);
const statusText: Record<TargetStatus, string> = { met: 'MET', missed: 'MISSED', 'not measured': 'NOT MEASURED' };

/** ': 2 ECONNRESET, 1 status 503' — why requests failed, when some did. */
function failureCauses(p: SavingsPoint): string {
  const causes = Object.entries(p.requests.failures ?? {});
  return causes.length === 0 ? '' : `: ${causes.map(([why, n]) => `${n} ${why}`).join(', ')}`;
}

function proxiesText(t: PointTotals): string {
  const parts = (['sidecar', 'ztunnel', 'waypoint'] as const).filter((k) => t.byKind[k] > 0).map((k) => `${t.byKind[k]} ${k}`);
  return parts.length ? parts.join(' + ') : '0';
}

export function reportBlocks(run: SavingsRun, charts: { name: ChartName; title: string }[]): Block[] {
  const blocks: Block[] = [{ kind: 'h', level: 1, text: 'Proxy memory and CPU: sidecar vs ambient' }];
  if (run.partial) {
    const missing = missingPoints(run);
    const parts = [`Partial run: ${run.partialReason ?? 'no reason given'}.`];
    if (run.failed) parts.push(`Failed at ${run.failed.mode}, ${run.failed.pods} pods: ${run.failed.reason}.`);
    if (missing.length) parts.push(`Not measured: ${missing.map((m) => `${m.mode} at ${m.pods} pods`).join(', ')}.`);
    blocks.push({ kind: 'banner', text: parts.join(' ') });
  }
  const seconds = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
  blocks.push({
    kind: 'p',
    text: `Run from ${run.startedAt} to ${run.finishedAt} (${Math.round(seconds)} s). ${run.points.length} of ${run.plan.modes.length * run.plan.pods.length} planned points measured.`,
  });

  const ratios = savingsRatios(run);
  blocks.push({ kind: 'h', level: 2, text: 'Targets' });
  blocks.push({
    kind: 'table',
    header: ['target', 'measured ambient / sidecar', 'status'],
    rows: evaluateTargets(run).map((r) => {
      let measured = r.ratio.value === null ? `not measured (${r.ratio.notMeasured})` : pct(r.ratio);
      // Memory is judged on PSS; the RSS ratio stands beside it, never hidden.
      if (r.ratio.value !== null && r.target.metric === 'pss') {
        const rss = ratios.find((x) => x.pods === r.target.pods && x.mode === r.target.mode)!.rss;
        measured += ` (RSS ${pct(rss)})`;
      }
      return [r.target.name, measured, statusText[r.status]];
    }),
  });

  blocks.push({ kind: 'h', level: 2, text: 'Ratios ambient / sidecar' });
  blocks.push({
    kind: 'p',
    text: 'Total over all proxies of the ambient mode divided by the total over all sidecars, at the same number of application pods and the same load.',
  });
  blocks.push({
    kind: 'table',
    header: ['pods', 'L4 PSS', 'L4 RSS', 'L4 CPU', 'L4 + waypoints PSS', 'L4 + waypoints RSS', 'L4 + waypoints CPU'],
    numeric: [true, true, true, true, true, true, true],
    rows: podCounts(run).map((pods) => {
      const l4 = ratios.find((r) => r.pods === pods && r.mode === 'ambient-l4')!;
      const wp = ratios.find((r) => r.pods === pods && r.mode === 'ambient-waypoint')!;
      return [String(pods), pct(l4.pss), pct(l4.rss), pct(l4.cpu), pct(wp.pss), pct(wp.rss), pct(wp.cpu)];
    }),
  });

  blocks.push({ kind: 'h', level: 2, text: 'Results per mode' });
  for (const mode of SAVINGS_MODES) {
    if (!run.plan.modes.includes(mode) && !run.points.some((p) => p.mode === mode)) continue;
    blocks.push({ kind: 'h', level: 3, text: modeLabels[mode] });
    blocks.push({
      kind: 'table',
      header: ['pods', 'proxies', 'total PSS MiB', 'total RSS MiB', 'CPU s', 'p50 ms', 'p90 ms', 'p99 ms', 'requests ok / sent (failed)'],
      numeric: [true, false, true, true, true, true, true, true, true],
      rows: podCounts(run).map((pods) => {
        const p = findPoint(run, mode, pods);
        if (!p) return [String(pods), 'not measured', '', '', '', '', '', '', ''];
        const t = pointTotals(p);
        const { p50, p90, p99 } = p.latencyMs;
        return [
          String(pods),
          proxiesText(t),
          mib(t.pssBytes),
          mib(t.rssBytes),
          t.cpuSeconds.toFixed(2),
          ms(p50),
          ms(p90),
          ms(p99),
          `${p.requests.ok} / ${p.requests.sent} (${p.requests.failed}${failureCauses(p)})`,
        ];
      }),
    });
  }

  blocks.push({ kind: 'h', level: 2, text: 'Charts' });
  for (const c of charts) blocks.push({ kind: 'chart', name: c.name, title: c.title });

  blocks.push({ kind: 'h', level: 2, text: 'Load' });
  blocks.push({
    kind: 'p',
    text: `The same open-loop load in every mode: ${run.load.rpsPerPod} requests/s per application pod, ${run.load.bodyBytes}-byte bodies, for ${run.load.seconds} s per point. CPU seconds are counted over that phase; memory is read right after it.`,
  });
  blocks.push({ kind: 'h', level: 2, text: 'Machine' });
  const m = run.machine;
  blocks.push({
    kind: 'table',
    header: ['', ''],
    rows: [
      ['CPUs', `${m.cpus} × ${m.cpuModel}`],
      ['memory', `${(m.memTotalBytes / 1024 ** 3).toFixed(1)} GiB`],
      ['kernel', m.kernel],
      ['OS', m.os],
    ],
  });
  blocks.push({ kind: 'h', level: 2, text: 'Versions' });
  blocks.push({ kind: 'table', header: ['component', 'version'], rows: Object.entries(run.versions) });
  blocks.push({ kind: 'h', level: 2, text: 'Commands' });
  blocks.push({ kind: 'code', lines: run.commands.length ? run.commands : ['(none recorded)'] });
  blocks.push({ kind: 'h', level: 2, text: 'Method' });
  blocks.push({
    kind: 'p',
    text: 'Every proxy process is read from /proc right after the load phase: RSS and PSS from /proc/<pid>/smaps_rollup, CPU as utime + stime from /proc/<pid>/stat over the phase, per process (children not counted). RSS counts every resident page in full, so pages shared with other processes (the Node binary, shared libraries) are counted once per process; PSS splits each shared page among the processes that share it, so the PSS of all processes adds up to the memory really used. Memory targets are judged on PSS; RSS is shown beside it.',
  });
  return blocks;
}

function mdCell(s: string): string {
  return s.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function renderMarkdown(blocks: Block[], chartFile: (name: ChartName, ext: 'svg' | 'png') => string): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'h':
        out.push(`${'#'.repeat(b.level)} ${b.text}`, '');
        break;
      case 'p':
        out.push(b.text, '');
        break;
      case 'banner':
        out.push(`> **⚠ ${b.text}**`, '');
        break;
      case 'table':
        out.push(`| ${b.header.map(mdCell).join(' | ')} |`, `|${b.header.map((_, i) => (b.numeric?.[i] ? '---:' : '---')).join('|')}|`);
        for (const r of b.rows) out.push(`| ${r.map(mdCell).join(' | ')} |`);
        out.push('');
        break;
      case 'code':
        out.push('```sh', ...b.lines, '```', '');
        break;
      case 'chart':
        out.push(`![${b.title}](${chartFile(b.name, 'svg')})`, '', `(PNG: [${chartFile(b.name, 'png')}](${chartFile(b.name, 'png')}))`, '');
        break;
    }
  }
  return out.join('\n');
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

const css = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.5rem 0 1.25rem}th,td{border:1px solid #ccc;padding:0.3rem 0.6rem;vertical-align:top}th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.banner{background:#fff3cd;border:2px solid #d39e00;padding:0.75rem 1rem;font-weight:bold;margin:1rem 0}
.s-met{color:#1a7f37;font-weight:bold}.s-missed{color:#c62828;font-weight:bold}.s-not-measured{color:#777;font-weight:bold}
pre{background:#f6f8fa;padding:0.75rem;overflow-x:auto}figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{color:#555}`;

export function renderHtml(blocks: Block[], svgs: Map<ChartName, string>, chartFile: (name: ChartName, ext: 'svg' | 'png') => string): string {
  const title = blocks.find((b) => b.kind === 'h')?.text ?? 'savings';
  const body: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'h':
        body.push(`<h${b.level}>${esc(b.text)}</h${b.level}>`);
        break;
      case 'p':
        body.push(`<p>${esc(b.text)}</p>`);
        break;
      case 'banner':
        body.push(`<div class="banner" role="alert">⚠ ${esc(b.text)}</div>`);
        break;
      case 'table': {
        const cell = (v: string, i: number): string => {
          const status = Object.entries(statusText).find(([, t]) => t === v)?.[0];
          const cls = status ? `s-${status.replace(' ', '-')}` : b.numeric?.[i] ? 'num' : '';
          return `<td${cls ? ` class="${cls}"` : ''}>${esc(v)}</td>`;
        };
        body.push(
          `<table><thead><tr>${b.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>`,
          ...b.rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`),
          '</tbody></table>',
        );
        break;
      }
      case 'code':
        body.push(`<pre><code>${esc(b.lines.join('\n'))}</code></pre>`);
        break;
      case 'chart':
        body.push(
          `<figure>${svgs.get(b.name) ?? ''}<figcaption>${esc(b.title)} (<a href="${esc(chartFile(b.name, 'png'))}">PNG</a>, <a href="${esc(chartFile(b.name, 'svg'))}">SVG</a>)</figcaption></figure>`,
        );
        break;
    }
  }
  return `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>${esc(title)}</title>\n<style>\n${css}\n</style>\n</head>\n<body>\n${body.join('\n')}\n</body>\n</html>\n`;
}

// ---- writer --------------------------------------------------------------------------------

/** `20261202T154807Z` from the run's finish time: the same run always gets the same file names. */
export function reportStamp(run: SavingsRun): string {
  const t = Date.parse(run.finishedAt);
  if (Number.isNaN(t)) throw new Error(`savings run: finishedAt '${run.finishedAt}' is not a time`);
  return new Date(t)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll('-', '')
    .replaceAll(':', '');
}

export interface WrittenReport {
  dir: string;
  stamp: string;
  /** Absolute paths, in the order written. */
  files: string[];
  /** Vega (spec → SVG) and resvg (SVG → PNG) time for the three charts. */
  svgMs: number;
  pngMs: number;
}

export async function writeSavingsReport(run: SavingsRun, opts: { dir?: string } = {}): Promise<WrittenReport> {
  const dir = resolve(opts.dir ?? defaultResultsDir);
  await mkdir(dir, { recursive: true });
  const stamp = reportStamp(run);
  const files: string[] = [];
  const write = async (name: string, data: string | Buffer): Promise<void> => {
    const path = join(dir, name);
    await writeFile(path, data);
    files.push(path);
  };
  // The raw run first: if rendering fails, the measurements are still on disk.
  await write(`savings-${stamp}.json`, `${JSON.stringify(run, null, 2)}\n`);
  const chartFile = (name: ChartName, ext: 'svg' | 'png'): string => `savings-${stamp}-${name}.${ext}`;
  const t0 = performance.now();
  const charts = await renderCharts(run);
  const t1 = performance.now();
  const pngs = charts.map((c) => ({ name: c.name, png: renderPng(c.svg) }));
  const t2 = performance.now();
  for (const c of charts) await write(chartFile(c.name, 'svg'), c.svg);
  for (const p of pngs) await write(chartFile(p.name, 'png'), p.png);
  const blocks = reportBlocks(run, charts);
  await write(`savings-${stamp}.md`, renderMarkdown(blocks, chartFile));
  await write(`savings-${stamp}.html`, renderHtml(blocks, new Map(charts.map((c) => [c.name, c.svg])), chartFile));
  for (const ext of ['md', 'html']) {
    const latest = join(dir, `savings-latest.${ext}`);
    await copyFile(join(dir, `savings-${stamp}.${ext}`), latest);
    files.push(latest);
  }
  return { dir, stamp, files, svgMs: t1 - t0, pngMs: t2 - t1 };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { out: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) {
    console.error('usage: report.ts <savings-<stamp>.json> [--out DIR]   (renders a saved run again)');
    process.exit(2);
  }
  try {
    const run = parseSavingsRun(JSON.parse(await readFile(positionals[0]!, 'utf8')));
    const r = await writeSavingsReport(run, values.out ? { dir: values.out } : {});
    console.log(`wrote ${r.files.length} files to ${r.dir} (charts: SVG ${r.svgMs.toFixed(0)} ms, PNG ${r.pngMs.toFixed(0)} ms)`);
  } catch (err) {
    console.error(`${positionals[0]}: ${(err as Error).message}`);
    process.exit(1);
  }
}
