// Least privilege, pinned: exactly these verbs on exactly these resources for each component
// (the code that needs each is named in deploy/istiod-lite/rbac.yaml), so that widening a
// role is a visible change to this file. The rendered install paths all carry the base's RBAC
// (install-paths.test.ts); kubectl-apply.test.ts asks the API server for the same decisions.
import assert from 'node:assert/strict';
import { type KubeObject, render } from './render.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

/** `group/resource[names]` → sorted verbs, merged over the rules of a role. */
function grants(role: KubeObject): Record<string, string> {
  const out = new Map<string, Set<string>>();
  for (const rule of (role as KubeObject & { rules: Rule[] }).rules) {
    assert.equal(rule.nonResourceURLs, undefined, 'no non-resource URLs');
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const key = `${group ? `${group}/` : ''}${resource}${rule.resourceNames ? `[${[...rule.resourceNames].sort().join(',')}]` : ''}`;
        const verbs = out.get(key) ?? new Set();
        for (const v of rule.verbs) verbs.add(v);
        out.set(key, verbs);
      }
    }
  }
  return Object.fromEntries([...out].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort().join(' ')]));
}

const READ = 'get list watch';

const ISTIOD_CLUSTER_ROLE = {
  'admissionregistration.k8s.io/mutatingwebhookconfigurations': 'create get list patch watch',
  'apps/deployments': 'create patch',
  'authentication.k8s.io/tokenreviews': 'create',
  configmaps: 'create get list patch watch',
  'discovery.k8s.io/endpointslices': READ,
  'gateway.networking.k8s.io/gatewayclasses': 'create patch',
  'gateway.networking.k8s.io/gateways': READ,
  'gateway.networking.k8s.io/gateways/status': 'patch',
  'gateway.networking.k8s.io/grpcroutes': READ,
  'gateway.networking.k8s.io/grpcroutes/status': 'patch',
  'gateway.networking.k8s.io/httproutes': READ,
  'gateway.networking.k8s.io/httproutes/status': 'patch',
  'mesh.ambient.dev/backendtrafficpolicies': READ,
  'mesh.ambient.dev/backendtrafficpolicies/status': 'patch',
  'mesh.ambient.dev/faultinjectionpolicies': READ,
  'mesh.ambient.dev/faultinjectionpolicies/status': 'patch',
  'mesh.ambient.dev/ratelimitpolicies': READ,
  'mesh.ambient.dev/ratelimitpolicies/status': 'patch',
  namespaces: READ,
  'networking.istio.io/destinationrules': READ,
  'networking.istio.io/destinationrules/status': 'patch',
  nodes: READ,
  pods: READ,
  'security.istio.io/authorizationpolicies': READ,
  'security.istio.io/authorizationpolicies/status': 'patch',
  'security.istio.io/peerauthentications': READ,
  'security.istio.io/peerauthentications/status': 'patch',
  serviceaccounts: 'create get list patch watch',
  services: 'create get list patch watch',
  'services/status': 'patch',
};

const ISTIOD_ROLE = {
  'coordination.k8s.io/leases': 'create',
  'coordination.k8s.io/leases[istiod-lite-leader]': 'get update',
  secrets: 'create',
  'secrets[cacerts,istio-ca-secret]': 'get',
};

// cni/src/kube-pods.ts: reads one pod and lists its node's pods at start; no watch.
const CNI_CLUSTER_ROLE = { pods: 'get list' };

describe('RBAC of deploy/', () => {
  let objects: KubeObject[];
  const get = (kind: string, name: string) => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(o, `${kind} ${name}`);
    return o;
  };
  before(async () => {
    ({ objects } = await render('base'));
  });

  it("grants istiod-lite's ClusterRole exactly what istiod-lite calls", () => {
    assert.deepEqual(grants(get('ClusterRole', 'istiod-lite')), ISTIOD_CLUSTER_ROLE);
  });

  it('grants istiod-lite, in istio-system only, its CA Secrets and its Lease by name, and creating them', () => {
    const role = get('Role', 'istiod-lite');
    assert.equal(role.metadata.namespace, 'istio-system');
    assert.deepEqual(grants(role), ISTIOD_ROLE);
  });

  it('grants the CNI node agent reading pods, nothing else', () => {
    assert.deepEqual(grants(get('ClusterRole', 'istio-cni')), CNI_CLUSTER_ROLE);
  });

  it('has no other roles, and binds each to its own ServiceAccount only: ztunnel to none', () => {
    const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').map((o) => `${o.kind} ${o.metadata.name}`);
    assert.deepEqual(roles.sort(), ['ClusterRole istio-cni', 'ClusterRole istiod-lite', 'Role istiod-lite']);
    const bindings = objects
      .filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')
      .map((o) => {
        const b = o as KubeObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
        return `${b.kind} ${b.metadata.namespace ?? ''}/${b.metadata.name} → ${b.roleRef.kind} ${b.roleRef.name} → ${b.subjects.map((s) => `${s.kind} ${s.namespace}/${s.name}`).join(', ')}`;
      });
    assert.deepEqual(bindings.sort(), [
      'ClusterRoleBinding /istio-cni → ClusterRole istio-cni → ServiceAccount istio-system/istio-cni',
      'ClusterRoleBinding /istiod-lite → ClusterRole istiod-lite → ServiceAccount istio-system/istiod-lite',
      'RoleBinding istio-system/istiod-lite → Role istiod-lite → ServiceAccount istio-system/istiod-lite',
    ]);
  });
});
