// The flame-graph renderer (src/flamegraph.ts): a small profile with known samples through the
// frame tree, the SVG, the pruning and the summary; a file that is not a profile; and a profile
// Node records here, end to end through the command.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { XMLParser } from 'fast-xml-parser';
import { type CpuProfile, CpuProfileError, parseCpuProfile } from '../src/flamegraph/cpu-profile.ts';
import { renderFlameGraphSvg } from '../src/flamegraph/flame-graph-svg.ts';
import { buildFrameTree, type Frame, frameCategory, MESH_WORKSPACES, shortPath } from '../src/flamegraph/frame-tree.ts';
import { renderProfileSummary, summarizeFrameTree } from '../src/flamegraph/profile-summary.ts';

const cli = join(import.meta.dirname, '../src/flamegraph.ts');
const run = promisify(execFile);

const ZT = 'file:///work/main/ztunnel/dist';
/** id, name, url, 0-based line, column, children, samples taken there. */
const syntheticNodes: [number, string, string, number, number, number[], number][] = [
  [1, '(root)', '', -1, -1, [2, 3, 4, 5, 9], 0],
  [2, '(program)', '', -1, -1, [], 4],
  [3, '(idle)', '', -1, -1, [], 20],
  [4, '(garbage collector)', '', -1, -1, [], 5],
  [5, 'main', `${ZT}/main.js`, 9, 0, [6, 7, 8], 6],
  [6, 'handle', `${ZT}/proxy/inbound.js`, 41, 2, [], 25],
  [7, 'parse', 'file:///work/main/node_modules/pino/lib/parse.js', 0, 0, [], 14],
  // The same function as node 6 under the same caller (V8 splits a frame by position): merged.
  [8, 'handle', `${ZT}/proxy/inbound.js`, 41, 2, [10], 15],
  [10, 'writev', 'node:net', 99, 4, [], 10],
  [9, 'tiny', 'file:///tmp/other.js', 0, 0, [], 1],
];

/** 100 samples, 1 ms apart: a share of the samples is that many percent. */
function syntheticProfile(): CpuProfile {
  const samples = syntheticNodes.flatMap(([id, , , , , , n]) => Array<number>(n).fill(id));
  return {
    nodes: syntheticNodes.map(([id, functionName, url, lineNumber, columnNumber, children]) => ({
      id,
      callFrame: { functionName, url, lineNumber, columnNumber },
      ...(children.length ? { children } : {}),
    })),
    startTime: 1_000_000,
    endTime: 1_100_000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

function child(frame: Frame, name: string): Frame {
  const found = frame.children.find((c) => c.functionName === name);
  assert.ok(found, `${name} under ${frame.functionName}: ${frame.children.map((c) => c.functionName).join(', ')}`);
  return found;
}

type SvgFrame = { title: string; x: number; width: number; y: number; label: string | undefined };

function svgFrames(svg: string): SvgFrame[] {
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['g', 'rect', 'text'].includes(name) }).parse(svg);
  const frames = (doc.svg.g as any[]).find((g) => g.class === 'frames');
  return (frames.g ?? []).map((g: any) => ({
    title: g.title,
    x: Number(g.rect[0].x),
    width: Number(g.rect[0].width),
    y: Number(g.rect[0].y),
    label: g.text?.[0]['#text'],
  }));
}

describe('flame graph', () => {
  describe('frame tree', () => {
    it('merges the same frame under the same caller and counts self and total samples', () => {
      const tree = buildFrameTree(syntheticProfile());
      assert.equal(tree.samples, 100);
      assert.equal(tree.idleSamples, 20);
      assert.equal(tree.durationMicros, 100_000);
      assert.equal(tree.root.total, 100);
      assert.deepEqual(
        tree.root.children.map((c) => [c.functionName, c.total]),
        [
          ['(garbage collector)', 5],
          ['(idle)', 20],
          ['(program)', 4],
          ['main', 70],
          ['tiny', 1],
        ],
        'siblings by label',
      );
      const main = child(tree.root, 'main');
      assert.equal(main.self, 6);
      assert.equal(main.children.length, 2, 'the two handle nodes are one frame');
      const handle = child(main, 'handle');
      assert.deepEqual([handle.self, handle.total, handle.line, handle.category], [40, 50, 42, 'mesh']);
      assert.deepEqual([child(handle, 'writev').total, child(handle, 'writev').category], [10, 'node']);
      assert.deepEqual([child(main, 'parse').total, child(main, 'parse').category], [14, 'node_modules']);
    });

    it('colours by whose code runs: the mesh workspaces, node_modules, node:, V8, anything else', () => {
      const cases: [string, string][] = [
        ['file:///work/main/ztunnel/dist/proxy/inbound.js', 'mesh'],
        ['file:///work/main/istiod-lite/src/xds/server.ts', 'mesh'],
        ['file:///work/main/node_modules/@ambient/api/dist/index.js', 'mesh'],
        ['file:///work/main/node_modules/pino/pino.js', 'node_modules'],
        ['file:///work/main/node_modules/foo/node_modules/api/src/x.js', 'node_modules'],
        ['node:internal/streams/writable', 'node'],
        ['', 'native'],
        ['file:///tmp/busy.mjs', 'other'],
        // A directory named like a workspace above the checkout is not one.
        ['file:///home/api/project/x.js', 'other'],
      ];
      for (const [url, category] of cases) assert.equal(frameCategory(url), category, url);
    });

    it("knows every mesh workspace as a root workspace (a renamed one would silently turn 'other')", () => {
      const root = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { workspaces: string[] };
      for (const ws of MESH_WORKSPACES) assert.ok(root.workspaces.includes(ws), ws);
    });

    it('shortens a script to the last two segments of its path', () => {
      assert.equal(shortPath('file:///work/main/ztunnel/dist/proxy/inbound.js'), 'proxy/inbound.js');
      assert.equal(shortPath('node:internal/modules/run_main'), 'modules/run_main');
      assert.equal(shortPath('node:net'), 'node:net');
      assert.equal(shortPath('file:///tmp/with%20space/x.js?v=1'), 'with space/x.js');
    });
  });

  describe('SVG', () => {
    it('draws one rect per frame, as wide as its samples, with a tooltip naming the function, file, line and share', () => {
      const svg = renderFlameGraphSvg(buildFrameTree(syntheticProfile()), { title: 'ztunnel <node-1>', minPercent: 0, width: 1020 });
      const frames = svgFrames(svg);
      assert.equal(frames.length, 9, 'root, 4 under it, main, handle, parse, writev');
      const byTitle = new Map(frames.map((f) => [f.title.split(' — ')[0]!, f]));
      const root = byTitle.get('(root)')!;
      assert.equal(root.width, 1000, 'all samples: the width less the margins');
      for (const f of frames) {
        const samples = Number(/ — (\d+) samples?, /.exec(f.title)?.[1]);
        assert.ok(Math.abs(f.width - samples * 10) < 0.01, `${f.title}: width ${f.width}`);
      }
      assert.equal(byTitle.get('handle (proxy/inbound.js:42)')!.title, 'handle (proxy/inbound.js:42) — 50 samples, 50.0%');
      assert.equal(byTitle.get('writev (node:net:100)')!.title, 'writev (node:net:100) — 10 samples, 10.0%');
      assert.equal(byTitle.get('tiny (tmp/other.js:1)')!.title, 'tiny (tmp/other.js:1) — 1 sample, 1.00%');
      // The root at the bottom, each callee above its caller.
      const main = byTitle.get('main (dist/main.js:10)')!;
      const handle = byTitle.get('handle (proxy/inbound.js:42)')!;
      assert.ok(root.y > main.y && main.y > handle.y);
      assert.ok(handle.x >= main.x && handle.x + handle.width <= main.x + main.width + 0.01, 'handle lies on main');
      assert.match(svg, /<text class="title"[^>]*>ztunnel &lt;node-1&gt;<\/text>/, 'the title, escaped');
    });

    it('labels a frame with what fits: the whole label, the function alone, or its start and an ellipsis', () => {
      const frames = svgFrames(renderFlameGraphSvg(buildFrameTree(syntheticProfile()), { title: 't', minPercent: 0, width: 1020 }));
      const label = (name: string) => frames.find((f) => f.title.startsWith(name))?.label;
      assert.equal(label('handle'), 'handle (proxy/inbound.js:42)', '500 px');
      assert.equal(label('main'), 'main (dist/main.js:10)', '700 px');
      assert.equal(label('writev'), 'writev', '100 px: 14 characters');
      assert.equal(label('(garbage collector)'), '(garb…', '50 px: 6 characters');
      assert.equal(label('tiny'), undefined, '10 px: no room');
    });

    it('leaves out frames under --min-percent of all samples, with their callees', () => {
      const tree = buildFrameTree(syntheticProfile());
      const labels = (minPercent: number) => svgFrames(renderFlameGraphSvg(tree, { title: 't', minPercent })).map((f) => f.title.split(' — ')[0]);
      assert.equal(labels(0.2).length, 9);
      assert.equal(labels(2).length, 8);
      assert.ok(!labels(2).includes('tiny (tmp/other.js:1)'));
      assert.deepEqual(labels(15).sort(), ['(idle)', '(root)', 'handle (proxy/inbound.js:42)', 'main (dist/main.js:10)']);
    });

    it('draws a profile without samples as an empty graph saying so', () => {
      const profile = { ...syntheticProfile(), samples: [], timeDeltas: [] };
      const svg = renderFlameGraphSvg(buildFrameTree(profile), { title: 't', minPercent: 0.2 });
      assert.equal(svgFrames(svg).length, 0);
      assert.match(svg, /no samples in this profile/);
    });
  });

  describe('summary', () => {
    it('gives samples, duration, idle, each category and the top functions as shares of all and of busy samples', () => {
      const summary = summarizeFrameTree(buildFrameTree(syntheticProfile()));
      assert.deepEqual([summary.samples, summary.idleSamples, summary.busySamples], [100, 20, 80]);
      assert.deepEqual(summary.categories, { mesh: 46, node_modules: 14, node: 10, native: 9, other: 1 });
      assert.deepEqual(summary.workspaces, [['ztunnel', 46]]);
      const text = renderProfileSummary('p.cpuprofile', summary);
      const lines = text.split('\n');
      assert.ok(lines.includes('samples: 100 over 0.10 s (one every 1.00 ms on average)'), text);
      assert.ok(lines.includes('idle: 20 samples, 20.0%; busy: 80 samples, 80.0%'), text);
      assert.ok(lines.includes('       46   46.0%   57.5%  our code'), text);
      assert.ok(lines.includes('our code by workspace (self, % busy): ztunnel 57.5%'), text);
      const after = (heading: string) => lines.slice(lines.indexOf(heading) + 2);
      assert.deepEqual(after('top 25 functions by self time').slice(0, 3), [
        '       40   40.0%   50.0%  handle (proxy/inbound.js:42)',
        '       20   20.0%       -  (idle)',
        '       14   14.0%   17.5%  parse (lib/parse.js:1)',
      ]);
      assert.deepEqual(after('top 25 functions by inclusive time').slice(0, 2), [
        '       70   70.0%   87.5%  main (dist/main.js:10)',
        '       50   50.0%   62.5%  handle (proxy/inbound.js:42)',
      ]);
      assert.ok(!text.includes('(root)'), 'the root is everything, listed nowhere');
    });

    it('counts a recursive function once per sample in its inclusive time', () => {
      const frame = (id: number, functionName: string, children: number[]) => ({
        id,
        callFrame: { functionName, url: `${ZT}/r.js`, lineNumber: id, columnNumber: 0 },
        children,
      });
      // (root) → walk → visit → walk(again, the same function): 3 samples in the inner walk, 2 in visit.
      const nodes = [{ ...frame(1, '(root)', [2]), callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 } }, frame(2, 'walk', [3])];
      nodes.push(frame(3, 'visit', [4]), { ...frame(4, 'walk', []), callFrame: nodes[1]!.callFrame });
      const samples = [4, 4, 4, 3, 3];
      const summary = summarizeFrameTree(buildFrameTree({ nodes, samples, timeDeltas: samples.map(() => 1000), startTime: 0, endTime: 5000 }));
      const walk = summary.functions.find((f) => f.label.startsWith('walk'))!;
      assert.deepEqual([walk.self, walk.inclusive], [3, 5]);
    });
  });

  describe('input', () => {
    const bad = (doc: unknown, message: RegExp) =>
      assert.throws(
        () => parseCpuProfile(typeof doc === 'string' ? doc : JSON.stringify(doc), 'prof/x.cpuprofile'),
        (err: unknown) => err instanceof CpuProfileError && err.code === 'ERR_CPU_PROFILE' && message.test(err.message),
      );

    it('names the file and the field a malformed profile lacks or gets wrong', () => {
      const good = syntheticProfile();
      bad('{"nodes": [', /^prof\/x\.cpuprofile: not a V8 CPU profile \(\.cpuprofile\): not JSON/);
      bad({ samples: [] }, /^prof\/x\.cpuprofile: .*: nodes is missing$/);
      bad({ ...good, timeDeltas: undefined }, /: timeDeltas is missing$/);
      const nodes = good.nodes.map((n, i) => (i === 3 ? { ...n, callFrame: { ...n.callFrame, url: undefined } } : n));
      bad({ ...good, nodes }, /: nodes\[3\]\.callFrame\.url is missing$/);
      bad({ ...good, samples: [...good.samples.slice(1), 77] }, /: samples\[99\] must be the id of a node, got 77$/);
      const twoParents = good.nodes.map((n) => (n.id === 5 ? { ...n, children: [...n.children!, 2] } : n));
      bad({ ...good, nodes: twoParents }, /: nodes\[4\]\.children\[3\] must be a node no other node \(nor itself\) has as a child, got 2$/);
      const cycle = good.nodes.map((n) => (n.id === 2 ? { ...n, children: [1] } : n));
      bad({ ...good, nodes: cycle }, /: nodes must form one tree, found 0 nodes without a parent$/);
      const island = [
        ...good.nodes,
        { id: 20, callFrame: good.nodes[1]!.callFrame, children: [21] },
        { id: 21, callFrame: good.nodes[1]!.callFrame, children: [20] },
      ];
      bad({ ...good, nodes: island }, /: nodes\[10\] \(id 20\) is not reachable from the root \(id 1\)$/);
      bad({ ...good, timeDeltas: [1] }, /timeDeltas must have one entry per sample, got 1 for 100 samples/);
    });

    it('exits 1 naming the file and the field when a file is not a profile, 2 on a usage error', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'flamegraph-bad-'));
      try {
        // A Chrome trace, the other JSON `node --cpu-prof`'s neighbours write.
        const file = join(dir, 'trace.json');
        writeFileSync(file, JSON.stringify({ traceEvents: [] }));
        const failed = await run(process.execPath, [cli, file]).then(
          () => assert.fail('exit 0'),
          (err: { code: number; stderr: string }) => err,
        );
        assert.equal(failed.code, 1);
        assert.match(failed.stderr, new RegExp(`${file}: not a V8 CPU profile \\(\\.cpuprofile\\): nodes is missing`));
        for (const args of [[], [file, '--min-percent', 'x'], [file, '--bogus']]) {
          const usage = await run(process.execPath, [cli, ...args]).then(
            () => assert.fail(`exit 0: ${args.join(' ')}`),
            (err: { code: number; stderr: string }) => err,
          );
          assert.equal(usage.code, 2, args.join(' '));
          assert.match(usage.stderr, /usage: npm run flamegraph/);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('draws a profile Node records here: the busy function of the profiled script is a frame', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'flamegraph-real-'));
    try {
      const script = join(dir, 'busy.mjs');
      writeFileSync(
        script,
        'function spinForFlameGraph(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }\n' +
          'spinForFlameGraph(200);\n',
      );
      await run(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'prof')}`, script], { timeout: 15_000 });
      const profiles = readdirSync(join(dir, 'prof')).filter((f) => f.endsWith('.cpuprofile'));
      assert.equal(profiles.length, 1, profiles.join(', '));
      const out = join(dir, 'out');
      const { stdout } = await run(process.execPath, [cli, join(dir, 'prof', profiles[0]!), '--out', out, '--title', 'busy script'], { timeout: 15_000 });
      const name = profiles[0]!.replace(/\.cpuprofile$/, '');
      assert.match(stdout, new RegExp(`-> ${out}/${name}\\.svg, ${out}/${name}\\.txt`));

      const spin = svgFrames(readFileSync(join(out, `${name}.svg`), 'utf8')).find((f) => f.title.startsWith('spinForFlameGraph ('));
      assert.ok(spin, 'a spinForFlameGraph frame');
      assert.match(spin.title, /^spinForFlameGraph \(flamegraph-real-\w+\/busy\.mjs:1\) — \d+ samples, [\d.]+%$/);
      assert.ok(Number(/ — (\d+) samples/.exec(spin.title)![1]) >= 50, `${spin.title}: ~200 ms at 1 sample per ms`);
      assert.match(readFileSync(join(out, `${name}.txt`), 'utf8'), /top 25 functions by self time\n.*\n.*spinForFlameGraph \(/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
