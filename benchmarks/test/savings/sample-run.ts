// A SavingsRun shaped like a real one (2 nodes, 4 namespaces, the pod counts), for the
// tests of the arithmetic and the report. The figures are made up but plausible: a sidecar
// costs ~35 MiB PSS, a ztunnel ~80, a waypoint ~100.
import type { ProxySample, SavingsMode, SavingsPoint, SavingsRun } from '../../src/savings/savings-result.ts';

const MiB = 1024 * 1024;

export function samplePoint(mode: SavingsMode, pods: number): SavingsPoint {
  const proxies: ProxySample[] = [];
  let pid = 1000;
  if (mode === 'sidecar') {
    for (let i = 0; i < pods; i++)
      proxies.push({ kind: 'sidecar', name: `sidecar bench-${i % 4}/app-${i}`, pid: pid++, rssBytes: 60 * MiB, pssBytes: 35 * MiB, cpuSeconds: 0.8 });
  } else {
    for (const node of ['node-1', 'node-2'])
      proxies.push({ kind: 'ztunnel', name: `ztunnel ${node}`, pid: pid++, rssBytes: 130 * MiB, pssBytes: 20 * MiB, cpuSeconds: pods * 0.05 });
    if (mode === 'ambient-waypoint')
      for (let ns = 0; ns < 4; ns++)
        proxies.push({ kind: 'waypoint', name: `waypoint bench-${ns}`, pid: pid++, rssBytes: 150 * MiB, pssBytes: 100 * MiB, cpuSeconds: pods * 0.1 });
  }
  const base = mode === 'sidecar' ? 2 : mode === 'ambient-l4' ? 1.2 : 4;
  return {
    mode,
    pods,
    proxies,
    latencyMs: { p50: base, p90: base * 2, p99: base * 5 + pods / 48 },
    requests: { sent: pods * 100, ok: pods * 100, failed: 0 },
    durationSeconds: 10,
  };
}

export function sampleRun(
  points: SavingsPoint[] = ['sidecar', 'ambient-l4', 'ambient-waypoint'].flatMap((m) => [24, 48, 96, 144].map((n) => samplePoint(m as SavingsMode, n))),
): SavingsRun {
  return {
    partial: false,
    plan: { modes: ['sidecar', 'ambient-l4', 'ambient-waypoint'], pods: [24, 48, 96, 144] },
    machine: {
      cpus: 2,
      cpuModel: 'Intel(R) Xeon(R) CPU @ 2.20GHz',
      memTotalBytes: 24 * 1024 * MiB,
      kernel: '6.1.0-28-cloud-amd64',
      os: 'Debian GNU/Linux 12 (bookworm)',
    },
    versions: { node: 'v24.21.0', mesh: '597835f' },
    commands: ['npm run bench -- savings --pods 24,48,96,144 --rps-per-pod 5 --seconds 30'],
    load: { rpsPerPod: 5, bodyBytes: 1024, seconds: 30 },
    startedAt: '2026-12-03T10:00:00.000Z',
    finishedAt: '2026-12-03T10:42:17.512Z',
    points,
  };
}
