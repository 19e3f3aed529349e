// Totals, ratios and targets over a run, complete and partial, and the checks on a saved run.
import assert from 'node:assert/strict';
import {
  evaluateTargets,
  missingPoints,
  parseSavingsRun,
  pointTotals,
  type RatioRow,
  SAVINGS_TARGETS,
  type SavingsRun,
  savingsRatios,
} from '../../src/savings/savings-result.ts';
import { samplePoint, sampleRun } from './sample-run.ts';

const MiB = 1024 * 1024;
const row = (rows: RatioRow[], pods: number, mode: RatioRow['mode']): RatioRow => rows.find((r) => r.pods === pods && r.mode === mode)!;

describe('savings: totals, ratios, targets', () => {
  it('sums PSS, RSS and CPU over a point’s proxies and counts them by kind', () => {
    const t = pointTotals(samplePoint('ambient-waypoint', 48));
    assert.deepEqual(t, {
      proxies: 6,
      byKind: { sidecar: 0, ztunnel: 2, waypoint: 4 },
      pssBytes: (2 * 20 + 4 * 100) * MiB,
      rssBytes: (2 * 130 + 4 * 150) * MiB,
      cpuSeconds: 2 * 48 * 0.05 + 4 * 48 * 0.1,
    });
    assert.equal(pointTotals(samplePoint('sidecar', 24)).proxies, 24);
  });

  it('divides each ambient total by the sidecar total at the same pod count', () => {
    const rows = savingsRatios(sampleRun());
    assert.equal(rows.length, 8);
    const l4 = row(rows, 144, 'ambient-l4');
    assert.equal(l4.pss.value, (2 * 20) / (144 * 35));
    assert.equal(l4.rss.value, (2 * 130) / (144 * 60));
    assert.ok(Math.abs(l4.cpu.value! - (2 * 144 * 0.05) / (144 * 0.8)) < 1e-12);
    const wp = row(rows, 24, 'ambient-waypoint');
    assert.equal(wp.pss.value, 440 / (24 * 35));
  });

  it('evaluates the issue’s targets at 144 pods: met and missed', () => {
    const run = sampleRun();
    assert.deepEqual(
      evaluateTargets(run).map((r) => r.status),
      ['met', 'met', 'met'],
    );
    // The ztunnels grow to 80 MiB PSS each: 160 / 5040 = 3.2% > 3%.
    const fat = sampleRun(run.points.map((p) => (p.mode === 'ambient-l4' ? { ...p, proxies: p.proxies.map((x) => ({ ...x, pssBytes: 80 * MiB })) } : p)));
    const [l4] = evaluateTargets(fat);
    assert.equal(l4!.status, 'missed');
    assert.ok(Math.abs(l4!.ratio.value! - 160 / 5040) < 1e-12);
  });

  it('meets a target exactly at its limit', () => {
    const run = sampleRun();
    const exact = evaluateTargets(run, [{ ...SAVINGS_TARGETS[0]!, max: (2 * 20) / (144 * 35) }]);
    assert.equal(exact[0]!.status, 'met');
  });

  it('a partial run: a missing pod count is "not measured", never a guess', () => {
    // The run stopped at 144 pods (sidecar failed there) and had lost ambient-waypoint at 96.
    const points = sampleRun().points.filter((p) => p.pods < 144 && !(p.mode === 'ambient-waypoint' && p.pods === 96));
    const run: SavingsRun = {
      ...sampleRun(points),
      partial: true,
      partialReason: 'sidecar at 144 pods did not become ready in 600 s',
      failed: { mode: 'sidecar', pods: 144, reason: 'pods not ready' },
    };
    const rows = savingsRatios(run);
    assert.equal(rows.length, 8, 'every planned pod count gets a row');
    const at144 = row(rows, 144, 'ambient-l4');
    assert.deepEqual(at144.pss, { value: null, notMeasured: 'no sidecar and ambient-l4 point at 144 pods' });
    assert.equal(at144.cpu.value, null);
    assert.deepEqual(row(rows, 96, 'ambient-waypoint').rss, { value: null, notMeasured: 'no ambient-waypoint point at 96 pods' });
    assert.notEqual(row(rows, 96, 'ambient-l4').pss.value, null);
    assert.deepEqual(
      evaluateTargets(run).map((r) => r.status),
      ['not measured', 'not measured', 'not measured'],
    );
    assert.deepEqual(missingPoints(run), [
      { mode: 'sidecar', pods: 144 },
      { mode: 'ambient-l4', pods: 144 },
      { mode: 'ambient-waypoint', pods: 96 },
      { mode: 'ambient-waypoint', pods: 144 },
    ]);
  });

  it('gives no ratio over a sidecar total of zero', () => {
    const run = sampleRun([{ ...samplePoint('sidecar', 24), proxies: [] }, samplePoint('ambient-l4', 24)]);
    assert.deepEqual(row(savingsRatios(run), 24, 'ambient-l4').pss, { value: null, notMeasured: 'the sidecar pss total at 24 pods is 0' });
  });

  it('reads a saved run back unchanged', () => {
    const run: SavingsRun = { ...sampleRun(), partial: true, partialReason: 'interrupted', failed: { mode: 'ambient-l4', pods: 96, reason: 'SIGINT' } };
    assert.deepEqual(parseSavingsRun(JSON.parse(JSON.stringify(run))), run);
  });

  it('refuses a saved run with a bad field, naming its path and value', () => {
    const json = JSON.parse(JSON.stringify(sampleRun()));
    json.points[3].proxies[1].pssBytes = '35M';
    assert.throws(() => parseSavingsRun(json), /savings run: run\.points\[3\]\.proxies\[1\]\.pssBytes must be a non-negative number, got "35M"/);
    const json2 = JSON.parse(JSON.stringify(sampleRun()));
    json2.points[0].mode = 'ambient';
    assert.throws(() => parseSavingsRun(json2), /run\.points\[0\]\.mode must be one of sidecar, ambient-l4, ambient-waypoint, got "ambient"/);
    const json3 = JSON.parse(JSON.stringify(sampleRun()));
    delete json3.plan;
    assert.throws(() => parseSavingsRun(json3), /run\.plan must be an object, got missing/);
    assert.throws(() => parseSavingsRun([]), /run must be an object/);
  });
});
