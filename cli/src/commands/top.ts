// `kubectl ambient top`: live golden signals per service (requests per second, success rate,
// p50/p99, TCP connections and bytes) from the mesh proxies' metrics (port 15020): every
// ztunnel and every waypoint, scraped twice per refresh window (top/golden-signals.ts).
import { ports } from '@ambient/api';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeContext } from '../kube-context.ts';
import { gatewayNameLabel } from '@ambient/api';
import { type Column, type OutputFormat, render } from '../output.ts';
import { getFromPod } from '../proxy-admin.ts';
import { goldenSignals, type Scrape, type ServiceSignals } from '../top/golden-signals.ts';
import { parsePrometheusText } from '../top/prometheus-text.ts';
import { ISTIO_NAMESPACE, ZTUNNEL_SELECTOR } from '../ztunnel-dump.ts';

export async function meshProxies(ctx: KubeContext): Promise<V1Pod[]> {
  const ztunnels = (await ctx.core.listNamespacedPod({ namespace: ISTIO_NAMESPACE, labelSelector: ZTUNNEL_SELECTOR })).items;
  const waypoints = (await ctx.core.listPodForAllNamespaces({ labelSelector: gatewayNameLabel })).items;
  return [...ztunnels, ...waypoints].filter((p) => p.status?.phase === 'Running');
}

/** One round: each proxy's /metrics; a proxy that does not answer is left out of this round. */
export async function scrape(proxies: V1Pod[], warn: (text: string) => void): Promise<Scrape[]> {
  const rounds = await Promise.all(
    proxies.map(async (pod): Promise<Scrape | undefined> => {
      const source = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      try {
        const text = await getFromPod({ pod }, ports.metrics, '/metrics', 3_000);
        return { source, at: Date.now(), samples: parsePrometheusText(text) };
      } catch (err) {
        warn(`${source}: ${(err as Error).message}`);
        return undefined;
      }
    }),
  );
  return rounds.filter((r): r is Scrape => r !== undefined);
}

const fixed = (digits: number) => (v: number | undefined) => (v === undefined ? undefined : v.toFixed(digits));

export function renderTop(signals: ServiceSignals[], format: OutputFormat): string {
  const columns: Column<ServiceSignals>[] = [
    { header: 'service', value: (s) => s.service },
    { header: 'rps', value: (s) => fixed(1)(s.rps) },
    { header: 'success', value: (s) => (s.successRate === undefined ? undefined : `${(s.successRate * 100).toFixed(1)}%`) },
    { header: 'p50 ms', value: (s) => fixed(1)(s.p50Ms) },
    { header: 'p99 ms', value: (s) => fixed(1)(s.p99Ms) },
    { header: 'tcp conn/s', value: (s) => fixed(1)(s.tcpConnectionsPerSecond) },
    { header: 'tcp bytes/s', value: (s) => fixed(0)(s.tcpBytesPerSecond) },
  ];
  return render(signals, columns, format);
}

/**
 * Prints the signals of each `intervalMs` window, `iterations` times (0: until interrupted).
 * On a terminal each table replaces the last, as `watch` would show it.
 */
export async function runTop(
  ctx: KubeContext,
  opts: { intervalMs: number; iterations: number; format: OutputFormat; namespace?: string },
  io: { write: (text: string) => void; warn: (text: string) => void; clear: boolean },
): Promise<void> {
  const proxies = await meshProxies(ctx);
  if (proxies.length === 0) throw new Error(`no running ztunnel or waypoint pods (${ISTIO_NAMESPACE} ${ZTUNNEL_SELECTOR}, or ${gatewayNameLabel})`);
  let before = await scrape(proxies, io.warn);
  for (let i = 0; opts.iterations === 0 || i < opts.iterations; i++) {
    await new Promise((r) => setTimeout(r, opts.intervalMs));
    const after = await scrape(proxies, io.warn);
    const suffix = opts.namespace === undefined ? undefined : `.${opts.namespace}.svc.`;
    const signals = goldenSignals(before, after).filter((s) => suffix === undefined || s.service.includes(suffix));
    if (io.clear) io.write('\u001b[2J\u001b[H');
    io.write(renderTop(signals, opts.format));
    before = after;
  }
}
