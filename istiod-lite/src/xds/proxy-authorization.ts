// Which proxy a caller may claim to be. The token proves a ServiceAccount (and, when pod-bound,
// the node it runs on); the Node message only claims. A claim the token does not back is denied,
// because the resources a proxy receives (and so what it can learn about the mesh) follow from it.
import { proxyTypes, type ProxyType } from '@ambient/api';
import type { XdsNode } from '@ambient/api/grpc';
import type { Caller } from '../auth/caller.ts';
import type { ProxyNode } from './resource-source.ts';

export const ZTUNNEL_SERVICE_ACCOUNT = 'ztunnel';

export type ProxyAuthorization = { ok: true; proxy: ProxyNode } | { ok: false; code: 'invalid-argument' | 'permission-denied'; message: string };

function isProxyType(value: string): value is ProxyType {
  return (proxyTypes as readonly string[]).includes(value);
}

/**
 * - ztunnel: only the ServiceAccount `ztunnel` of the root namespace, and only for the node its
 *   token is bound to (when the token is pod-bound; a legacy token cannot prove a node).
 * - waypoint: namespace and name must be the caller's own namespace and ServiceAccount (the
 *   waypoint controller names the ServiceAccount after the Gateway); empty fields default to them.
 * - test: only with `allowTestProxies` (istiod-lite --allow-test-proxies), and only for
 *   ServiceAccounts of the root namespace: it receives what a ztunnel gets, which is every
 *   workload and policy of the mesh, so it is an operator's tool, never a workload's.
 */
export function authorizeProxy(node: XdsNode, caller: Caller, rootNamespace: string, allowTestProxies = false): ProxyAuthorization {
  const type = node.type ?? '';
  if (!isProxyType(type)) {
    return { ok: false, code: 'invalid-argument', message: `unknown proxy type ${JSON.stringify(type)}: want ztunnel, waypoint or test` };
  }
  const nodeName = node.nodeName ?? '';
  let namespace = node.namespace ?? '';
  let name = node.name ?? '';
  if (type === 'ztunnel') {
    if (caller.namespace !== rootNamespace || caller.serviceAccount !== ZTUNNEL_SERVICE_ACCOUNT) {
      return {
        ok: false,
        code: 'permission-denied',
        message: `proxy type ztunnel needs ServiceAccount ${rootNamespace}/${ZTUNNEL_SERVICE_ACCOUNT}, caller is ${caller.username}`,
      };
    }
    if (nodeName === '') return { ok: false, code: 'invalid-argument', message: 'ztunnel node_name is required' };
    if (caller.nodeName !== undefined && caller.nodeName !== nodeName) {
      return {
        ok: false,
        code: 'permission-denied',
        message: `ztunnel claims node ${JSON.stringify(nodeName)} but its token is bound to node ${JSON.stringify(caller.nodeName)}`,
      };
    }
    namespace ||= caller.namespace;
    name ||= caller.podName ?? caller.serviceAccount;
  } else if (type === 'waypoint') {
    namespace ||= caller.namespace;
    name ||= caller.serviceAccount;
    if (namespace !== caller.namespace || name !== caller.serviceAccount) {
      return {
        ok: false,
        code: 'permission-denied',
        message: `waypoint ${namespace}/${name} needs ServiceAccount ${namespace}/${name}, caller is ${caller.username}`,
      };
    }
  } else {
    if (!allowTestProxies)
      return { ok: false, code: 'permission-denied', message: 'proxy type test is disabled (start istiod-lite with --allow-test-proxies)' };
    if (caller.namespace !== rootNamespace) {
      return {
        ok: false,
        code: 'permission-denied',
        message: `proxy type test needs a ServiceAccount of the root namespace ${rootNamespace}, caller is ${caller.username}`,
      };
    }
    namespace ||= caller.namespace;
    name ||= caller.serviceAccount;
  }
  const id = node.id || `${type}~${nodeName}~${caller.podName ?? caller.serviceAccount}.${caller.namespace}`;
  return { ok: true, proxy: { id, type, nodeName, namespace, name } };
}
