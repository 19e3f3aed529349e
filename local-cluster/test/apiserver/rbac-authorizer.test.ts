// The RBAC decision and the request attributes it reads, as pure functions over plain data.
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import { authorize, type RbacPolicy } from '../../src/apiserver/rbac-authorizer.ts';
import { requestAttributes, type RequestAttributes } from '../../src/apiserver/request-attributes.ts';
import { parseRequestPath } from '../../src/apiserver/request-path.ts';
import type { UserInfo } from '../../src/apiserver/service-account-tokens.ts';

const obj = (kind: string, name: string, namespace: string | undefined, rest: Record<string, unknown>): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind,
  metadata: namespace === undefined ? { name } : { name, namespace },
  ...rest,
});

function policy(objects: KubeObject[]): RbacPolicy {
  const of = (kind: string) => objects.filter((o) => o.kind === kind);
  return {
    clusterRoleBindings: () => of('ClusterRoleBinding'),
    roleBindings: (ns) => of('RoleBinding').filter((o) => o.metadata.namespace === ns),
    clusterRole: (name) => of('ClusterRole').find((o) => o.metadata.name === name),
    role: (ns, name) => of('Role').find((o) => o.metadata.namespace === ns && o.metadata.name === name),
  };
}

const sa = (ns: string, name: string): UserInfo => ({
  username: `system:serviceaccount:${ns}:${name}`,
  uid: '',
  groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
});

const attrs = (method: string, target: string): RequestAttributes => {
  const url = new URL(`https://h${target}`);
  return requestAttributes(method, url.pathname, parseRequestPath(url.pathname), url.searchParams);
};

describe('requestAttributes', () => {
  const cases: [string, string, Partial<RequestAttributes>][] = [
    ['GET', '/api/v1/namespaces/ns/pods', { verb: 'list', resource: 'pods', namespace: 'ns', name: '' }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=true', { verb: 'watch' }],
    ['GET', '/api/v1/watch/namespaces/ns/pods/p', { verb: 'watch', name: 'p' }],
    ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp', { verb: 'list', name: 'p' }],
    ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%21%3Dp', { verb: 'list', name: '' }],
    ['GET', '/api/v1/namespaces/ns/pods/p/status', { verb: 'get', subresource: 'status', name: 'p' }],
    ['POST', '/api/v1/namespaces/ns/serviceaccounts/sa/token', { verb: 'create', resource: 'serviceaccounts', subresource: 'token', name: 'sa' }],
    ['PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale', { verb: 'update', apiGroup: 'apps', subresource: 'scale' }],
    ['PATCH', '/api/v1/nodes/n', { verb: 'patch', resource: 'nodes', namespace: '', name: 'n' }],
    ['DELETE', '/api/v1/namespaces/ns/pods', { verb: 'deletecollection' }],
    ['DELETE', '/api/v1/namespaces/ns/pods/p', { verb: 'delete', name: 'p' }],
    // A Namespace object is in itself, so a RoleBinding there can grant reading it.
    ['GET', '/api/v1/namespaces/ns', { verb: 'get', resource: 'namespaces', namespace: 'ns', name: 'ns' }],
    ['GET', '/version', { kind: 'non-resource', verb: 'get', path: '/version' } as Partial<RequestAttributes>],
    ['POST', '/no/such/path', { kind: 'non-resource', verb: 'post', path: '/no/such/path' } as Partial<RequestAttributes>],
  ];
  for (const [method, target, want] of cases) {
    it(`reads ${method} ${target} as ${JSON.stringify(want)}`, () => {
      const got = attrs(method, target) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, k);
    });
  }
});

describe('authorize (RBAC)', () => {
  const p = policy([
    obj('ClusterRole', 'status-writer', undefined, { rules: [{ apiGroups: [''], resources: ['*/status'], verbs: ['update'] }] }),
    obj('ClusterRole', 'everything', undefined, { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }),
    obj('ClusterRole', 'metrics', undefined, { rules: [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }] }),
    obj('Role', 'leases', 'kube-system', { rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'] }] }),
    obj('ClusterRoleBinding', 'ops-status', undefined, {
      roleRef: { kind: 'ClusterRole', name: 'status-writer' },
      subjects: [{ kind: 'User', name: 'ops' }],
    }),
    obj('ClusterRoleBinding', 'ops-metrics', undefined, { roleRef: { kind: 'ClusterRole', name: 'metrics' }, subjects: [{ kind: 'Group', name: 'ops-team' }] }),
    // A ClusterRole bound by a RoleBinding grants only inside the binding's namespace.
    obj('RoleBinding', 'ci-everything', 'ci', { roleRef: { kind: 'ClusterRole', name: 'everything' }, subjects: [{ kind: 'ServiceAccount', name: 'runner' }] }),
    obj('RoleBinding', 'leader', 'kube-system', {
      roleRef: { kind: 'Role', name: 'leases' },
      subjects: [{ kind: 'ServiceAccount', name: 'ctrl', namespace: 'default' }],
    }),
    // A ClusterRoleBinding that names a Role is invalid in kube and grants nothing here.
    obj('ClusterRoleBinding', 'bad-ref', undefined, { roleRef: { kind: 'Role', name: 'leases' }, subjects: [{ kind: 'Group', name: 'system:authenticated' }] }),
  ]);
  const ops: UserInfo = { username: 'ops', uid: '', groups: ['system:authenticated'] };
  const opsTeam: UserInfo = { username: 'carol', uid: '', groups: ['ops-team', 'system:authenticated'] };
  const master: UserInfo = { username: 'root', uid: '', groups: ['system:masters'] };
  const cases: [string, UserInfo, string, string, boolean][] = [
    ['*/status grants any status subresource', ops, 'PUT', '/api/v1/namespaces/a/pods/p/status', true],
    ['*/status grants no main resource', ops, 'PUT', '/api/v1/namespaces/a/pods/p', false],
    ['a group subject', opsTeam, 'GET', '/metrics', true],
    ['a trailing * in a nonResourceURL is a prefix', opsTeam, 'GET', '/debug/pprof/heap', true],
    ['a nonResourceURL matches its verb only', opsTeam, 'POST', '/metrics', false],
    [
      'a RoleBinding ServiceAccount subject without namespace is in the binding namespace',
      sa('ci', 'runner'),
      'DELETE',
      '/api/v1/namespaces/ci/secrets/s',
      true,
    ],
    ['...and nowhere else', sa('ci', 'runner'), 'GET', '/api/v1/namespaces/prod/secrets', false],
    ['...nor cluster-scoped', sa('ci', 'runner'), 'GET', '/api/v1/nodes', false],
    ['...nor the same name in another namespace', sa('other', 'runner'), 'GET', '/api/v1/namespaces/ci/secrets', false],
    ['a Role in the binding namespace', sa('default', 'ctrl'), 'PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l', true],
    ['a Role grants its api group only', sa('default', 'ctrl'), 'GET', '/api/v1/namespaces/kube-system/leases/l', false],
    ['a ClusterRoleBinding to a Role grants nothing', sa('x', 'y'), 'GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l', false],
    ['system:masters bypasses RBAC', master, 'DELETE', '/api/v1/nodes/n', true],
  ];
  for (const [name, user, method, target, allowed] of cases) {
    it(`${allowed ? 'allows' : 'denies'}: ${name}`, () => {
      assert.equal(authorize(user, attrs(method, target), p).allowed, allowed);
    });
  }

  it("says which binding allowed, in kube's words", () => {
    assert.equal(
      authorize(sa('default', 'ctrl'), attrs('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l'), p).reason,
      'RBAC: allowed by RoleBinding "leader/kube-system" of Role "leases" to ServiceAccount "default/ctrl"',
    );
    assert.equal(
      authorize(ops, attrs('PUT', '/api/v1/nodes/n/status'), p).reason,
      'RBAC: allowed by ClusterRoleBinding "ops-status" of ClusterRole "status-writer" to User "ops"',
    );
  });
});
