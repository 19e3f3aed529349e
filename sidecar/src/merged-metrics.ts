// One /metrics page from the two registries a sidecar carries: the L4 one of its per-pod proxy
// (ztunnel's families) and the L7 one of its request stack (the waypoint's). Both define some
// families of the same name (istio_tcp_*): a Prometheus page may hold a family once, so the
// first registry's family wins and the second's same-named one is left out.
import type { Registry } from 'prom-client';

export type MetricsSource = Pick<Registry, 'contentType' | 'metrics'>;

/** The families of a text exposition, keyed by name, in order. */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name = '';
  let lines: string[] = [];
  const flush = (): void => {
    if (name !== '' && !out.has(name)) out.set(name, lines.join('\n'));
  };
  for (const line of text.split('\n')) {
    const m = /^# (?:HELP|TYPE) (\S+)/.exec(line);
    if (m && m[1] !== name) {
      flush();
      name = m[1]!;
      lines = [];
    }
    if (line !== '') lines.push(line);
  }
  flush();
  return out;
}

export function mergedMetrics(first: MetricsSource, second: MetricsSource): MetricsSource {
  return {
    contentType: first.contentType,
    async metrics() {
      const merged = families(await first.metrics());
      for (const [name, block] of families(await second.metrics())) if (!merged.has(name)) merged.set(name, block);
      return `${[...merged.values()].join('\n')}\n`;
    },
  };
}
