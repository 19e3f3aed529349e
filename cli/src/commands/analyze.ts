// `kubectl ambient analyze`: lists the objects the rules read (analyze/) and prints what they
// found, like `istioctl analyze`: one line per finding with its code, the object and a fix.
import type { KubeContext } from '../kube-context.ts';
import { analyze, type ClusterObjects, type Finding, type KubeObject } from '../analyze/analyze.ts';
import type { OutputFormat, Palette } from '../output.ts';
import { render } from '../output.ts';

const CUSTOM: Record<Exclude<keyof ClusterObjects, 'namespaces' | 'services' | 'pods'>, { group: string; version: string; plural: string }> = {
  gateways: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways' },
  httpRoutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' },
  grpcRoutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes' },
  authorizationPolicies: { group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies' },
  peerAuthentications: { group: 'security.istio.io', version: 'v1', plural: 'peerauthentications' },
};

/** The whole cluster's objects: a rule about one namespace may need another's (a waypoint elsewhere). */
export async function listClusterObjects(ctx: KubeContext): Promise<ClusterObjects> {
  const plain = (items: unknown[]) => JSON.parse(JSON.stringify(items)) as KubeObject[];
  const custom = async (r: { group: string; version: string; plural: string }) =>
    ((await ctx.custom.listClusterCustomObject(r)) as { items: KubeObject[] }).items;
  const [namespaces, services, pods, gateways, httpRoutes, grpcRoutes, authorizationPolicies, peerAuthentications] = await Promise.all([
    ctx.core.listNamespace().then((l) => plain(l.items)),
    ctx.core.listServiceForAllNamespaces().then((l) => plain(l.items)),
    ctx.core.listPodForAllNamespaces().then((l) => plain(l.items)),
    custom(CUSTOM.gateways),
    custom(CUSTOM.httpRoutes),
    custom(CUSTOM.grpcRoutes),
    custom(CUSTOM.authorizationPolicies),
    custom(CUSTOM.peerAuthentications),
  ]);
  return { namespaces, services, pods, gateways, httpRoutes, grpcRoutes, authorizationPolicies, peerAuthentications };
}

/** Findings about objects in `namespace` (and cluster-scoped ones: a Namespace is its own); all with undefined. */
export function findingsFor(objects: ClusterObjects, namespace: string | undefined): Finding[] {
  return analyze(objects).filter((f) => namespace === undefined || (f.object.namespace ?? f.object.name) === namespace);
}

export function renderFindings(findings: Finding[], format: OutputFormat, palette: Palette): string {
  if (format !== 'table') return render(findings, [], format);
  if (findings.length === 0) return `${palette.ok('✔')} no problems found\n`;
  const colour = { Error: palette.bad, Warning: palette.warn, Info: palette.dim };
  return findings
    .map((f) => {
      const where = f.object.namespace ? `${f.object.namespace}/${f.object.name}` : f.object.name;
      return `${colour[f.severity](f.severity)} [${f.code}] (${f.object.kind} ${where}) ${f.message}\n    fix: ${f.fix}\n`;
    })
    .join('');
}
