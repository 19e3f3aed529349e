// Which proxy a caller may claim to be. The token proves a ServiceAccount (and, when pod-bound,
// the node it runs on); the Node message only claims. A claim the token does not back is denied,
// because the resources a proxy receives (and so what it can learn about the mesh) follow from it.
import { proxyTypes, type ProxyType } from '@ambient/api';
import type { XdsNode } from '@ambient/api/grpc';
import type { Caller } from '../auth/caller.ts';
import type { PodLookup } from '../kube/pod-lookup.ts';
import type { ProxyNode } from './resource-source.ts';

export const ZTUNNEL_SERVICE_ACCOUNT = 'ztunnel';

export type ProxyAuthorization = { ok: true; proxy: ProxyNode } | { ok: false; code: 'invalid-argument' | 'permission-denied'; message: string };

export interface ProxyAuthorizationContext {
  /** The namespace of the ztunnel ServiceAccount and of test proxies. */
  rootNamespace: string;
  /** Admit proxy type `test` (istiod-lite --allow-test-proxies). Default false. */
  allowTestProxies?: boolean;
  /** The pods istiod-lite watches: a sidecar's claim is checked against its pod. Without it no sidecar is admitted. */
  pods?: PodLookup;
}

function isProxyType(value: string): value is ProxyType {
  return (proxyTypes as readonly string[]).includes(value);
}

/**
 * - ztunnel: only the ServiceAccount `ztunnel` of the root namespace, and only for the node its
 *   token is bound to (when the token is pod-bound; a legacy token cannot prove a node).
 * - waypoint: namespace and name must be the caller's own namespace and ServiceAccount (the
 *   waypoint controller names the ServiceAccount after the Gateway); empty fields default to them.
 * - sidecar: namespace and name are a pod's, and the token must be bound to that very pod (its
 *   projected istio-ca token), which must run as the token's ServiceAccount: the sidecar sees
 *   every address and L4 policy (as a ztunnel) and its pod's outbound L7 config, nothing that
 *   would let one pod pose as another. Empty fields default to the token's pod.
 * - test: only with `allowTestProxies` (istiod-lite --allow-test-proxies), and only for
 *   ServiceAccounts of the root namespace: it receives what a ztunnel gets, which is every
 *   workload and policy of the mesh, so it is an operator's tool, never a workload's.
 */
export function authorizeProxy(node: XdsNode, caller: Caller, ctx: ProxyAuthorizationContext): ProxyAuthorization {
  const { rootNamespace, allowTestProxies = false } = ctx;
  const type = node.type ?? '';
  if (!isProxyType(type)) {
    return { ok: false, code: 'invalid-argument', message: `unknown proxy type ${JSON.stringify(type)}: want ztunnel, waypoint, sidecar or test` };
  }
  let nodeName = node.nodeName ?? '';
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
  } else if (type === 'sidecar') {
    namespace ||= caller.namespace;
    name ||= caller.podName ?? '';
    const verdict = authorizeSidecar(namespace, name, caller, ctx.pods);
    if (!verdict.ok) return verdict;
    nodeName = verdict.nodeName;
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

function authorizeSidecar(
  namespace: string,
  name: string,
  caller: Caller,
  pods: PodLookup | undefined,
): { ok: true; nodeName: string } | { ok: false; code: 'permission-denied'; message: string } {
  const deny = (message: string) => ({ ok: false as const, code: 'permission-denied' as const, message });
  if (caller.podName === undefined) {
    return deny(
      `sidecar ${namespace}/${name} needs a token bound to its pod (the projected istio-ca token), caller is ${caller.username} with a token bound to no pod`,
    );
  }
  if (namespace !== caller.namespace || name !== caller.podName) {
    return deny(`sidecar ${namespace}/${name} needs a token bound to pod ${namespace}/${name}, caller's is bound to pod ${caller.namespace}/${caller.podName}`);
  }
  const pod = pods?.podByName(namespace, name);
  if (pod === undefined) return deny(`sidecar ${namespace}/${name}: istiod-lite knows no pod ${namespace}/${name} (yet)`);
  if (pod.uid !== undefined && caller.podUid !== undefined && pod.uid !== caller.podUid) {
    return deny(`sidecar ${namespace}/${name}: the token was bound to an earlier pod of that name (uid ${caller.podUid}, the pod's is ${pod.uid})`);
  }
  if (pod.serviceAccount !== caller.serviceAccount) {
    return deny(`sidecar ${namespace}/${name}: the pod runs as ServiceAccount ${namespace}/${pod.serviceAccount}, caller is ${caller.username}`);
  }
  return { ok: true, nodeName: pod.nodeName ?? '' };
}
