// AMB0005 RouteParentNotFound and AMB0006 RouteBackendNotFound. Why: Gateway API references are
// by name, with defaults that surprise (a parentRef's kind defaults to Gateway, so a route meant
// for a Service must say kind: Service, group: ""). A route whose parent does not exist attaches
// to nothing and is silently unused; a backend that does not exist makes every request routed to
// it fail with HTTP 500, as the Gateway API requires.
import { type ClusterIndex, keyOf } from './cluster-index.ts';
import { codes, finding } from './codes.ts';
import type { Finding, KubeObject, Manifest } from './finding.ts';
import { compareStrings, listed, listOf, nameOf, namespaceOf, refOf, stringOf } from './kube-fields.ts';
import { gatewayApiGroup } from '@ambient/api';

interface Reference {
  kind: 'Gateway' | 'Service';
  namespace: string;
  name: string;
}

export function routeRefsRule(index: ClusterIndex): Finding[] {
  return [
    ...index.objects.httpRoutes.flatMap((r) => checkRoute(index, 'HTTPRoute', r)),
    ...index.objects.grpcRoutes.flatMap((r) => checkRoute(index, 'GRPCRoute', r)),
  ];
}

function checkRoute(index: ClusterIndex, kind: string, route: KubeObject): Finding[] {
  const out: Finding[] = [];
  for (const [i, ref] of listOf(route.spec?.parentRefs).entries()) {
    const target = parentOf(ref, namespaceOf(route));
    const path = `spec.parentRefs[${i}]`;
    if (target && !exists(index, target)) {
      const effect = 'so the route is attached to nothing and none of its rules apply';
      out.push(
        finding(
          codes.routeParentNotFound,
          refOf(kind, route),
          `${path} names ${describe(target)}, which does not exist, ${effect}`,
          fixFor(index, target, path),
        ),
      );
    }
  }
  for (const [i, rule] of listOf(route.spec?.rules).entries()) {
    for (const [j, ref] of listOf(rule?.backendRefs).entries()) {
      const target = backendOf(ref, namespaceOf(route));
      const path = `spec.rules[${i}].backendRefs[${j}]`;
      if (target && !exists(index, target)) {
        const message = `${path} names ${describe(target)}, which does not exist, so requests routed to it fail with HTTP 500`;
        out.push(finding(codes.routeBackendNotFound, refOf(kind, route), message, fixFor(index, target, path)));
      }
    }
  }
  return out;
}

/** Gateway API defaults: group gateway.networking.k8s.io, kind Gateway, the route's namespace. */
function parentOf(ref: Manifest, routeNamespace: string): Reference | undefined {
  const group = stringOf(ref?.group) ?? gatewayApiGroup;
  const kind = stringOf(ref?.kind) ?? 'Gateway';
  return referenceOf(group, kind, ref, routeNamespace);
}

/** backendRefs default to the core group and kind Service. */
function backendOf(ref: Manifest, routeNamespace: string): Reference | undefined {
  return referenceOf(stringOf(ref?.group) ?? '', stringOf(ref?.kind) ?? 'Service', ref, routeNamespace);
}

/** Other kinds (ServiceEntry, ...) are not among the objects analyzed: not judged. */
function referenceOf(group: string, kind: string, ref: Manifest, routeNamespace: string): Reference | undefined {
  const name = stringOf(ref?.name);
  if (name === undefined) return undefined;
  const namespace = stringOf(ref?.namespace) ?? routeNamespace;
  if (kind === 'Gateway' && group === gatewayApiGroup) return { kind, namespace, name };
  if (kind === 'Service' && (group === '' || group === 'core')) return { kind, namespace, name };
  return undefined;
}

function exists(index: ClusterIndex, r: Reference): boolean {
  return (r.kind === 'Gateway' ? index.gateways : index.services).has(keyOf(r.namespace, r.name));
}

function describe(r: Reference): string {
  return `${r.kind} ${r.namespace}/${r.name}`;
}

function fixFor(index: ClusterIndex, r: Reference, path: string): string {
  const pool = r.kind === 'Gateway' ? index.objects.gateways : index.objects.services;
  const names = pool
    .filter((o) => namespaceOf(o) === r.namespace)
    .map(nameOf)
    .sort(compareStrings);
  const known = names.length > 0 ? ` (${r.kind === 'Gateway' ? 'gateways' : 'services'} in ${r.namespace}: ${listed(names)})` : '';
  const kindHint =
    r.kind === 'Gateway' && index.services.has(keyOf(r.namespace, r.name))
      ? `; a Service of that name exists: for mesh traffic set kind: Service, group: ""`
      : '';
  return `fix ${path}.name${known} or create ${describe(r)}${kindHint}`;
}
