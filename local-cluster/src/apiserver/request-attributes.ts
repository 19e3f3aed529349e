// What a request asks to do, in the terms RBAC rules speak (kube-apiserver's RequestInfo):
// a verb on a resource (group, resource, subresource, namespace, name) or a verb on a
// non-resource path. Pure: computed from the method, the parsed path and the query.
import type { Route } from './request-path.ts';

export interface ResourceAttributes {
  kind: 'resource';
  /** get, list, watch, create, update, patch, delete, deletecollection, or a custom verb (impersonate). */
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  /** '' for cluster-scoped requests and lists across all namespaces. */
  namespace: string;
  /** '' when the request names no object (list, create, deletecollection). */
  name: string;
}

export interface NonResourceAttributes {
  kind: 'non-resource';
  /** The HTTP method, lower case (get, post...), as kube-apiserver names non-resource verbs. */
  verb: string;
  path: string;
}

export type RequestAttributes = ResourceAttributes | NonResourceAttributes;

const METHOD_VERB: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', GET: 'get', HEAD: 'get', DELETE: 'delete' };

/**
 * The attributes of a request, as kube-apiserver derives them: a GET without a name is a list
 * (a watch with `?watch=true` or the legacy `/watch/` prefix), a DELETE without a name a
 * deletecollection; a list or watch with the field selector `metadata.name=<n>` names `<n>`
 * (so `resourceNames` can grant watching one object); a request on a Namespace object
 * (`/api/v1/namespaces/<ns>`) is in that namespace, so a RoleBinding there can grant it.
 */
export function requestAttributes(method: string, path: string, route: Route | undefined, query: URLSearchParams): RequestAttributes {
  if (route?.kind !== 'resource') return { kind: 'non-resource', verb: method.toLowerCase(), path };
  let verb = METHOD_VERB[method] ?? method.toLowerCase();
  let name = route.name ?? '';
  if (route.watch) verb = 'watch';
  else if (verb === 'get' && name === '') verb = query.get('watch') === 'true' || query.get('watch') === '1' ? 'watch' : 'list';
  else if (verb === 'delete' && name === '') verb = 'deletecollection';
  if ((verb === 'list' || verb === 'watch') && name === '') name = exactName(query.get('fieldSelector'));
  let namespace = route.namespace ?? '';
  if (route.group === '' && route.plural === 'namespaces' && namespace === '') namespace = name;
  return {
    kind: 'resource',
    verb,
    apiGroup: route.group,
    apiVersion: route.version,
    resource: route.plural,
    subresource: route.subresource ?? '',
    namespace,
    name,
  };
}

/** `metadata.name=<n>` (or `==`) in a field selector of exact matches; '' otherwise. */
function exactName(selector: string | null): string {
  if (!selector) return '';
  for (const term of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*([^\s!=]+)\s*$/.exec(term);
    if (m) return m[1]!;
  }
  return '';
}
