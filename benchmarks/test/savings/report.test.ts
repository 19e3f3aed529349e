// The report writer into a temporary directory: every file there, the charts real SVG (well-formed
// XML) and real PNG, the Markdown and HTML carrying the ratios, the targets and, for a partial
// run, the banner with its reason.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { reportBlocks, reportStamp, renderMarkdown, writeSavingsReport } from '../../src/savings/report.ts';
import type { SavingsRun } from '../../src/savings/savings-result.ts';
import { sampleRun } from './sample-run.ts';

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function partialRun(): SavingsRun {
  const run = sampleRun();
  return {
    ...run,
    partial: true,
    partialReason: 'stopped by SIGINT during ambient-waypoint at 144 pods',
    failed: { mode: 'ambient-waypoint', pods: 144, reason: 'interrupted' },
    points: run.points.filter((p) => !(p.mode === 'ambient-waypoint' && p.pods === 144)),
  };
}

describe('savings: report', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'savings-report-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the files after the run’s finish time', () => {
    assert.equal(reportStamp(sampleRun()), '20261203T104217Z');
  });

  it('writes the JSON, Markdown, HTML, latest copies and every chart as SVG and PNG', async () => {
    const run = sampleRun();
    const r = await writeSavingsReport(run, { dir });
    const stamp = '20261203T104217Z';
    const expected = [
      `savings-${stamp}.json`,
      `savings-${stamp}.md`,
      `savings-${stamp}.html`,
      'savings-latest.md',
      'savings-latest.html',
      ...['memory', 'cpu', 'latency'].flatMap((c) => [`savings-${stamp}-${c}.svg`, `savings-${stamp}-${c}.png`]),
    ];
    for (const f of expected) assert.ok(existsSync(join(dir, f)), `${f} written`);
    assert.deepEqual(r.files.map((f) => f.slice(dir.length + 1)).sort(), expected.sort());
    assert.deepEqual(JSON.parse(readFileSync(join(dir, `savings-${stamp}.json`), 'utf8')), run);

    for (const c of ['memory', 'cpu', 'latency']) {
      const svg = readFileSync(join(dir, `savings-${stamp}-${c}.svg`), 'utf8');
      assert.equal(XMLValidator.validate(svg), true, `${c}.svg is well-formed XML`);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
      assert.ok(doc.svg, `${c}.svg has an <svg> root`);
      assert.ok(Number(doc.svg['@_width']) > 100, `${c}.svg has a width`);
      const png = readFileSync(join(dir, `savings-${stamp}-${c}.png`));
      assert.deepEqual(png.subarray(0, 8), pngSignature, `${c}.png starts with the PNG signature`);
      assert.equal(png.readUInt32BE(16), Number(doc.svg['@_width']) * 2, 'the PNG is the SVG at twice the size');
    }
    assert.match(readFileSync(join(dir, `savings-${stamp}-memory.svg`), 'utf8'), />PSS<.*>RSS</s, 'the memory chart shows both measures');
    assert.equal(readFileSync(join(dir, 'savings-latest.md'), 'utf8'), readFileSync(join(dir, `savings-${stamp}.md`), 'utf8'));
  });

  it('the Markdown has the ratio rows, the targets, the per-mode tables and no partial banner', async () => {
    await writeSavingsReport(sampleRun(), { dir });
    const md = readFileSync(join(dir, 'savings-latest.md'), 'utf8');
    // 144 pods: L4 PSS 40/5040, RSS 260/8640, CPU 14.4/115.2; waypoints 440/5040, 860/8640, 72/115.2.
    assert.match(md, /^\| 144 \| 0\.79% \| 3\.01% \| 12\.50% \| 8\.73% \| 9\.95% \| 62\.50% \|$/m);
    assert.match(md, /^\| ambient L4 proxy memory \(PSS\) ≤ 3% of sidecar at 144 pods \| 0\.79% \(RSS 3\.01%\) \| MET \|$/m);
    assert.match(md, /^\| ambient L4 proxy CPU ≤ 30% of sidecar at 144 pods \| 12\.50% \| MET \|$/m);
    assert.match(md, /^\| 144 \| 144 sidecar \| 5040\.0 \| 8640\.0 \| 115\.20 \| 2\.00 \| 4\.00 \| 13\.00 \| 14400 \/ 14400 \(0\) \|$/m);
    assert.match(md, /^\| 24 \| 2 ztunnel \+ 4 waypoint \| 440\.0 \| 860\.0 \|/m);
    assert.match(md, /npm run bench -- savings --pods 24,48,96,144/);
    assert.match(md, /\| kernel \| 6\.1\.0-28-cloud-amd64 \|/);
    assert.match(md, /!\[Proxy memory vs application pods\]\(savings-20261203T104217Z-memory\.svg\)/);
    assert.doesNotMatch(md, /Partial run/);
  });

  it('a partial run: the banner with its reason, and "not measured" where a point is missing', async () => {
    await writeSavingsReport(partialRun(), { dir });
    const md = readFileSync(join(dir, 'savings-latest.md'), 'utf8');
    assert.match(
      md,
      /^> \*\*⚠ Partial run: stopped by SIGINT during ambient-waypoint at 144 pods\. Failed at ambient-waypoint, 144 pods: interrupted\. Not measured: ambient-waypoint at 144 pods\.\*\*$/m,
    );
    assert.ok(md.indexOf('Partial run') < md.indexOf('## Targets'), 'the banner comes first');
    assert.match(md, /^\| 144 \| 0\.79% \| 3\.01% \| 12\.50% \| not measured \| not measured \| not measured \|$/m);
    assert.match(md, /≤ 12% of sidecar at 144 pods \| not measured \(no ambient-waypoint point at 144 pods\) \| NOT MEASURED \|$/m);
    assert.match(md, /^\| 144 \| not measured \|/m);
    const html = readFileSync(join(dir, 'savings-latest.html'), 'utf8');
    assert.match(html, /<div class="banner" role="alert">⚠ Partial run: stopped by SIGINT/);
    assert.match(html, /<td class="s-not-measured">NOT MEASURED<\/td>/);
  });

  it('the HTML embeds the charts inline and loads nothing from elsewhere', async () => {
    await writeSavingsReport(sampleRun(), { dir });
    const html = readFileSync(join(dir, 'savings-latest.html'), 'utf8');
    assert.equal((html.match(/<svg[\s>]/g) ?? []).length, 3, 'three inline SVG charts');
    assert.doesNotMatch(html, /<(script|link|img)\b/i);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'no external resource');
    assert.doesNotMatch(html, /@import|url\(/i);
    assert.match(html, /<td class="num">0\.79%<\/td>/);
    assert.match(html, /<td class="s-met">MET<\/td>/);
    // The table text is escaped: a '<' in a command stays text.
    const run = { ...sampleRun(), commands: ['npm run bench -- savings < /dev/null'] };
    await writeSavingsReport(run, { dir });
    assert.match(readFileSync(join(dir, 'savings-latest.html'), 'utf8'), /savings &lt; \/dev\/null/);
  });

  it('renders a run with no points at all (every ratio and target not measured)', async () => {
    const run: SavingsRun = { ...sampleRun([]), partial: true, partialReason: 'the cluster did not start' };
    const r = await writeSavingsReport(run, { dir });
    assert.equal(r.files.length, 11);
    const md = readFileSync(join(dir, 'savings-latest.md'), 'utf8');
    assert.match(md, /^\| 24 \| not measured \| not measured \| not measured \| not measured \| not measured \| not measured \|$/m);
    assert.equal((md.match(/NOT MEASURED/g) ?? []).length, 3);
  });

  it('escapes a table cell holding a pipe in Markdown', () => {
    const run = { ...sampleRun(), versions: { 'a|b': 'v1' } };
    assert.match(
      renderMarkdown(reportBlocks(run, []), () => ''),
      /^\| a\\\|b \| v1 \|$/m,
    );
  });
});
