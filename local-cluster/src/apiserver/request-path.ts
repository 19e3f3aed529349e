// Parses a Kubernetes API URL path into what it addresses. Pure.

export type Route =
  | { kind: 'health' }
  | { kind: 'version' }
  | { kind: 'core-versions' }
  | { kind: 'groups' }
  | { kind: 'group'; group: string }
  | { kind: 'resource-list'; group: string; version: string }
  | { kind: 'openapi'; path: string }
  | ResourceRoute;

export interface ResourceRoute {
  kind: 'resource';
  group: string;
  version: string;
  /** Set for namespaced paths (`.../namespaces/{ns}/{plural}`), undefined for cluster-wide ones. */
  namespace: string | undefined;
  plural: string;
  name: string | undefined;
  subresource: string | undefined;
  /** Legacy `/watch/` path form. */
  watch: boolean;
}

const HEALTH = new Set(['/healthz', '/livez', '/readyz']);

export function parseRequestPath(pathname: string): Route | undefined {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (HEALTH.has(path) || /^\/(healthz|livez|readyz)\//.test(path)) return { kind: 'health' };
  if (path === '/version') return { kind: 'version' };
  if (path === '/openapi/v2' || path === '/openapi/v3' || path.startsWith('/openapi/v3/') || path === '/swagger.json') return { kind: 'openapi', path };
  const segs: string[] = [];
  for (const segment of path.split('/').slice(1)) {
    const decoded = decodeSegment(segment);
    // A malformed escape (`%`, `%zz`) addresses nothing: not found, as for any unknown path.
    if (decoded === undefined) return undefined;
    segs.push(decoded);
  }
  let rest: string[];
  let group: string;
  let version: string;
  if (segs[0] === 'api') {
    if (segs.length === 1) return { kind: 'core-versions' };
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { kind: 'groups' };
    if (segs.length === 2) return { kind: 'group', group: segs[1]! };
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
  } else {
    return undefined;
  }
  if (rest.length === 0) return { kind: 'resource-list', group, version };
  let watch = false;
  if (rest[0] === 'watch') {
    watch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  // `namespaces/{ns}/{plural}...` addresses namespaced objects; `namespaces[/{name}[/status]]`
  // addresses Namespace objects themselves.
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3 || rest.some((s) => s === '')) return undefined;
  return { kind: 'resource', group, version, namespace, plural: rest[0]!, name: rest[1], subresource: rest[2], watch };
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
