// `kubectl ambient waypoint list|status|apply|delete`, like `istioctl waypoint`: a waypoint is
// a Gateway of class istio-waypoint with an HBONE listener on 15008; istiod-lite renders its
// Deployment and reports Accepted/Programmed in its status.
import { mergePatch } from '@ambient/api/kube';
import type { KubeContext } from '../kube-context.ts';
import { gatewayApiGroup, useWaypointLabel, waypointForLabel, waypointGatewayClass } from '@ambient/api';
import { type Column, type OutputFormat, render } from '../output.ts';

export const WAYPOINT_FOR = ['service', 'workload', 'all', 'none'] as const;

interface Gateway {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec?: { gatewayClassName?: string };
  status?: { addresses?: { value?: string }[]; conditions?: Condition[] };
}
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The Gateway `waypoint apply` writes (Istio's default listener, name and port). */
export function waypointGateway(namespace: string, name: string, waypointFor: string): Record<string, unknown> {
  return {
    apiVersion: `${gatewayApiGroup}/v1`,
    kind: 'Gateway',
    metadata: { name, namespace, labels: { [waypointForLabel]: waypointFor } },
    spec: { gatewayClassName: waypointGatewayClass, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
}

export async function listWaypoints(ctx: KubeContext): Promise<Gateway[]> {
  const list = (
    ctx.namespace === undefined
      ? await ctx.custom.listClusterCustomObject({ group: gatewayApiGroup, version: 'v1', plural: 'gateways' })
      : await ctx.custom.listNamespacedCustomObject({ group: gatewayApiGroup, version: 'v1', namespace: ctx.namespace, plural: 'gateways' })
  ) as { items: Gateway[] };
  return list.items.filter((g) => g.spec?.gatewayClassName === waypointGatewayClass);
}

const condition = (g: Gateway, type: string): Condition | undefined => g.status?.conditions?.find((c) => c.type === type);

export function renderWaypoints(gateways: Gateway[], format: OutputFormat): string {
  const columns: Column<Gateway>[] = [
    { header: 'namespace', value: (g) => g.metadata.namespace },
    { header: 'name', value: (g) => g.metadata.name },
    { header: 'for', value: (g) => g.metadata.labels?.[waypointForLabel] ?? 'service' },
    { header: 'programmed', value: (g) => condition(g, 'Programmed')?.status ?? 'Unknown' },
    { header: 'address', value: (g) => g.status?.addresses?.[0]?.value },
  ];
  return render(gateways, columns, format);
}

/** One row per condition of each waypoint: what istiod-lite said about it and why. */
export function renderWaypointStatus(gateways: Gateway[], format: OutputFormat): string {
  const rows = gateways.flatMap((g) =>
    (g.status?.conditions?.length
      ? g.status.conditions
      : [{ type: 'Programmed', status: 'Unknown', reason: 'Pending', message: 'no status yet: is istiod-lite running?' }]
    ).map((c) => ({
      gateway: g,
      c,
    })),
  );
  const columns: Column<(typeof rows)[number]>[] = [
    { header: 'namespace', value: (r) => r.gateway.metadata.namespace },
    { header: 'name', value: (r) => r.gateway.metadata.name },
    { header: 'condition', value: (r) => r.c.type },
    { header: 'status', value: (r) => r.c.status },
    { header: 'reason', value: (r) => r.c.reason },
    { header: 'message', value: (r) => r.c.message },
  ];
  return render(rows, columns, format, gateways);
}

export function isProgrammed(g: Gateway): boolean {
  return condition(g, 'Programmed')?.status === 'True';
}

/** Creates the waypoint, or updates its class, listener and waypoint-for label; returns whether it was new. */
export async function applyWaypoint(ctx: KubeContext, namespace: string, name: string, waypointFor: string): Promise<boolean> {
  const body = waypointGateway(namespace, name, waypointFor);
  try {
    await ctx.custom.createNamespacedCustomObject({ group: gatewayApiGroup, version: 'v1', namespace, plural: 'gateways', body });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await ctx.custom.patchNamespacedCustomObject(
      { group: gatewayApiGroup, version: 'v1', namespace, plural: 'gateways', name, body: { metadata: body.metadata, spec: body.spec } },
      mergePatch,
    );
    return false;
  }
}

export async function deleteWaypoint(ctx: KubeContext, namespace: string, name: string): Promise<void> {
  await ctx.custom.deleteNamespacedCustomObject({ group: gatewayApiGroup, version: 'v1', namespace, plural: 'gateways', name });
}

/** `--enroll-namespace`: the namespace's traffic goes through the waypoint. */
export async function enrollNamespace(ctx: KubeContext, namespace: string, name: string): Promise<void> {
  await ctx.core.patchNamespace({ name: namespace, body: { metadata: { labels: { [useWaypointLabel]: name } } } }, mergePatch);
}
