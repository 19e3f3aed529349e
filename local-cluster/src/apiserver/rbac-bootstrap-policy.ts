// The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), the subset this server needs: the
// administrator's `cluster-admin`, discovery and version for every authenticated caller, and
// `kubectl auth can-i` (SelfSubjectAccessReview) for everyone. Created when missing, so an
// operator's edit survives a restart (kube's autoupdate reconciliation is not reproduced).
import type { KubeObject } from '../apimachinery/types.ts';
import { MASTERS_GROUP, RBAC_GROUP } from './rbac-authorizer.ts';

const API_VERSION = `${RBAC_GROUP}/v1`;
const META = {
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
};

function clusterRole(name: string, rules: Record<string, string[]>[]): KubeObject {
  return { apiVersion: API_VERSION, kind: 'ClusterRole', metadata: { name, ...META }, rules };
}

function bindGroups(name: string, groups: string[]): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'ClusterRoleBinding',
    metadata: { name, ...META },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: 'Group', name: g })),
  };
}

export const bootstrapClusterRoles: readonly KubeObject[] = [
  clusterRole('cluster-admin', [
    { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
    { nonResourceURLs: ['*'], verbs: ['*'] },
  ]),
  clusterRole('system:discovery', [
    {
      nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'],
      verbs: ['get'],
    },
  ]),
  clusterRole('system:public-info-viewer', [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }]),
  clusterRole('system:basic-user', [
    { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
  ]),
];

export const bootstrapClusterRoleBindings: readonly KubeObject[] = [
  // Redundant with the privileged-group bypass, as in kube: it shows who the admins are.
  bindGroups('cluster-admin', [MASTERS_GROUP]),
  bindGroups('system:discovery', ['system:authenticated']),
  bindGroups('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  bindGroups('system:basic-user', ['system:authenticated']),
];
