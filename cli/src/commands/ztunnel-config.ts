// `kubectl ambient workloads|services|policies|certificates|connections`: what each node's
// ztunnel holds, like `istioctl ztunnel-config`. Every row names the node whose ztunnel
// reported it; the row builders are pure, over the dumps.
import { type Column, type OutputFormat, render } from '../output.ts';
import type { NodeDump, ZtunnelDump } from '../ztunnel-dump.ts';

export const ZTUNNEL_VIEWS = ['workloads', 'services', 'policies', 'certificates', 'connections'] as const;
export type ZtunnelView = (typeof ZTUNNEL_VIEWS)[number];

type Row = Record<string, string | number | undefined> & { node: string };

interface View {
  columns: Column<Row>[];
  rows(dump: ZtunnelDump, node: string, now: Date): Row[];
}

const col = (header: string, key: string): Column<Row> => ({ header, value: (r) => r[key] });

const VIEWS: Record<ZtunnelView, View> = {
  workloads: {
    columns: [
      col('node', 'node'),
      col('namespace', 'namespace'),
      col('name', 'name'),
      col('address', 'address'),
      col('workload node', 'workloadNode'),
      col('waypoint', 'waypoint'),
      col('protocol', 'protocol'),
      col('identity', 'identity'),
    ],
    rows: (d, node) =>
      d.workloads.map((w) => ({
        node,
        namespace: w.namespace,
        name: w.name,
        address: (w.addresses ?? []).join(',') || undefined,
        workloadNode: w.node,
        waypoint: waypointName(w.waypoint),
        protocol: w.tunnelProtocol,
        identity: w.identity,
      })),
  },
  services: {
    columns: [
      col('node', 'node'),
      col('namespace', 'namespace'),
      col('service name', 'name'),
      col('service vip', 'vip'),
      col('waypoint', 'waypoint'),
      col('endpoints', 'endpoints'),
    ],
    rows: (d, node) =>
      d.services.map((s) => {
        const endpoints = s.endpoints ?? [];
        return {
          node,
          namespace: s.namespace,
          name: s.name,
          vip: (s.addresses ?? []).join(',') || undefined,
          waypoint: waypointName(s.waypoint),
          endpoints: `${endpoints.filter((e) => e.ready !== false).length}/${endpoints.length}`,
        };
      }),
  },
  policies: {
    columns: [col('node', 'node'), col('namespace', 'namespace'), col('policy name', 'name'), col('action', 'action'), col('scope', 'scope')],
    rows: (d, node) => d.policies.map((p) => ({ node, namespace: p.namespace, name: p.name, action: p.action, scope: p.scope })),
  },
  certificates: {
    columns: [
      col('node', 'node'),
      col('certificate name', 'name'),
      col('type', 'type'),
      col('status', 'status'),
      col('valid cert', 'valid'),
      col('serial number', 'serial'),
      col('not after', 'notAfter'),
      col('not before', 'notBefore'),
    ],
    // One row per certificate of each chain, leaf first, as istioctl prints them.
    rows: (d, node, now) =>
      d.certificates.flatMap((c) =>
        c.chain.map((cert, i) => ({
          node,
          name: c.identity,
          type: i === 0 ? 'Leaf' : i === c.chain.length - 1 ? 'Root' : 'Intermediate',
          status: c.state === 'available' ? 'Available' : c.state,
          valid: String(Date.parse(cert.notBefore) <= now.getTime() && now.getTime() < Date.parse(cert.notAfter)),
          serial: cert.serial.toLowerCase(),
          notAfter: cert.notAfter,
          notBefore: cert.notBefore,
        })),
      ),
  },
  connections: {
    columns: [
      col('node', 'node'),
      col('namespace', 'namespace'),
      col('workload', 'workload'),
      col('address', 'address'),
      col('outbound', 'outbound'),
      col('inbound hbone', 'hbone'),
      col('inbound plaintext', 'plaintext'),
    ],
    rows: (d, node) => {
      const byUid = new Map(d.workloads.map((w) => [w.uid, w]));
      return d.captured.map((p) => ({
        node,
        namespace: byUid.get(p.uid)?.namespace,
        workload: byUid.get(p.uid)?.name ?? p.uid,
        address: p.ip,
        outbound: p.connections.outbound,
        hbone: p.connections.hbone,
        plaintext: p.connections.plaintext,
      }));
    },
  },
};

function waypointName(w: { address?: string; hostname?: string } | null | undefined): string | undefined {
  return w ? (w.hostname ?? w.address) : undefined;
}

/** The view's rows over every dump that was read, filtered to `namespace` when given. */
export function viewRows(view: ZtunnelView, dumps: NodeDump[], namespace: string | undefined, now: Date): Row[] {
  const rows = dumps.flatMap((d) => (d.dump ? VIEWS[view].rows(d.dump, d.node, now) : []));
  return namespace === undefined || view === 'certificates' ? rows : rows.filter((r) => r.namespace === namespace);
}

export function renderView(view: ZtunnelView, rows: Row[], format: OutputFormat): string {
  return render(rows, VIEWS[view].columns, format);
}
