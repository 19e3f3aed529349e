// RBAC enforcement over HTTPS with real ServiceAccount tokens and the real kubectl: what a
// binding grants, exactly where, and kube-apiserver's 403 for everything else.
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { call, KUBECTL_VERSIONS, kubectl, startTestServer, type TestServer } from './harness.ts';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const ALICE = 'system:serviceaccount:default:alice';

describe('RBAC authorization (embedded API server over https)', function () {
  this.timeout(60_000);
  let t: TestServer;
  let alice: string; // a ServiceAccount token of default/alice

  const admin = async (method: string, path: string, body?: unknown): Promise<void> => {
    const r = await call(t.server, method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  };
  const asAlice = (method: string, path: string, body?: unknown) => call(t.server, method, path, body, { token: alice });
  const role = (ns: string, name: string, rules: unknown[]) => admin('POST', `${RBAC}/namespaces/${ns}/roles`, { metadata: { name }, rules });
  const bindAlice = (ns: string, name: string, roleRef: { kind: string; name: string }) =>
    admin('POST', `${RBAC}/namespaces/${ns}/rolebindings`, {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
      subjects: [{ kind: 'ServiceAccount', name: 'alice', namespace: 'default' }],
    });

  before(async () => {
    t = await startTestServer();
    for (const ns of ['istio-system', 'team-a', 'team-b']) await admin('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    await admin('POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'alice' } });
    await admin('POST', '/api/v1/namespaces/istio-system/serviceaccounts', { metadata: { name: 'ztunnel' } });
    for (const ns of ['team-a', 'team-b']) {
      for (const name of ['allowed', 'other']) await admin('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name }, data: { k: 'v' } });
    }
    alice = (await call(t.server, 'POST', '/api/v1/namespaces/default/serviceaccounts/alice/token', { spec: {} })).json.status.token;
  });
  after(async () => {
    await t?.cleanup();
  });

  it('any authenticated client can mint istio-system/ztunnel tokens (regression): a plain ServiceAccount token is refused without a binding', async () => {
    const path = '/api/v1/namespaces/istio-system/serviceaccounts/ztunnel/token';
    const refused = await asAlice('POST', path, { spec: { audiences: ['istio-ca'] } });
    assert.equal(refused.status, 403, refused.text);
    assert.deepEqual(refused.json, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `serviceaccounts "ztunnel" is forbidden: User "${ALICE}" cannot create resource "serviceaccounts/token" in API group "" in the namespace "istio-system"`,
      reason: 'Forbidden',
      details: { name: 'ztunnel', group: '', kind: 'serviceaccounts' },
      code: 403,
    });
    // Granting exactly that subresource of exactly that account lets it through.
    await role('istio-system', 'mint-ztunnel', [{ apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['ztunnel'], verbs: ['create'] }]);
    await bindAlice('istio-system', 'alice-mints-ztunnel', { kind: 'Role', name: 'mint-ztunnel' });
    assert.equal((await asAlice('POST', path, { spec: { audiences: ['istio-ca'] } })).status, 201);
    // ...and nothing more: not the account itself, not another account's tokens.
    assert.equal((await asAlice('GET', '/api/v1/namespaces/istio-system/serviceaccounts/ztunnel')).status, 403);
    assert.equal((await asAlice('POST', '/api/v1/namespaces/istio-system/serviceaccounts/default/token', { spec: {} })).status, 403);
  });

  it("refuses a ServiceAccount token without bindings with kube's messages (namespaced, cluster scope, path)", async () => {
    const pods = await asAlice('GET', '/api/v1/namespaces/default/pods');
    assert.equal(pods.status, 403);
    assert.equal(pods.json.message, `pods is forbidden: User "${ALICE}" cannot list resource "pods" in API group "" in the namespace "default"`);
    const nodes = await asAlice('GET', '/api/v1/nodes');
    assert.equal(nodes.json.message, `nodes is forbidden: User "${ALICE}" cannot list resource "nodes" in API group "" at the cluster scope`);
    const deploy = await asAlice('DELETE', '/apis/apps/v1/namespaces/default/deployments/web');
    assert.equal(
      deploy.json.message,
      `deployments.apps "web" is forbidden: User "${ALICE}" cannot delete resource "deployments" in API group "apps" in the namespace "default"`,
    );
    const metrics = await asAlice('GET', '/metrics');
    assert.equal(metrics.status, 403);
    assert.equal(metrics.json.message, `forbidden: User "${ALICE}" cannot get path "/metrics"`);
    // Discovery, version and openapi are every authenticated caller's (system:discovery).
    for (const path of ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/version', '/openapi/v2']) assert.equal((await asAlice('GET', path)).status, 200, path);
  });

  it('a RoleBinding grants its verbs in its namespace only', async () => {
    await role('team-a', 'cm-reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }]);
    await bindAlice('team-a', 'alice-reads', { kind: 'Role', name: 'cm-reader' });
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-a/configmaps')).status, 200);
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-a/configmaps/other')).status, 200);
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-b/configmaps')).status, 403, 'another namespace');
    assert.equal((await asAlice('GET', '/api/v1/configmaps')).status, 403, 'all namespaces');
    assert.equal((await asAlice('POST', '/api/v1/namespaces/team-a/configmaps', { metadata: { name: 'new' } })).status, 403, 'a verb not granted');
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-a/secrets')).status, 403, 'a resource not granted');
  });

  it('a ClusterRoleBinding grants cluster-wide, to a group', async () => {
    await admin('POST', `${RBAC}/clusterroles`, { metadata: { name: 'pod-lister' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] });
    assert.equal((await asAlice('GET', '/api/v1/pods')).status, 403);
    await admin('POST', `${RBAC}/clusterrolebindings`, {
      metadata: { name: 'default-sas-list-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pod-lister' },
      subjects: [{ kind: 'Group', name: 'system:serviceaccounts:default', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    for (const path of ['/api/v1/pods', '/api/v1/namespaces/team-b/pods', '/api/v1/namespaces/istio-system/pods'])
      assert.equal((await asAlice('GET', path)).status, 200, path);
    // `pods` does not grant `pods/status`: subresources are granted by name.
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-b/pods/x/status')).status, 403);
  });

  it('resourceNames restrict to the named objects, including a list or watch by metadata.name', async () => {
    await role('team-b', 'one-cm', [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['allowed'], verbs: ['get', 'list'] }]);
    await bindAlice('team-b', 'alice-one-cm', { kind: 'Role', name: 'one-cm' });
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-b/configmaps/allowed')).status, 200);
    const other = await asAlice('GET', '/api/v1/namespaces/team-b/configmaps/other');
    assert.equal(other.status, 403);
    assert.equal(
      other.json.message,
      `configmaps "other" is forbidden: User "${ALICE}" cannot get resource "configmaps" in API group "" in the namespace "team-b"`,
    );
    assert.equal((await asAlice('GET', '/api/v1/namespaces/team-b/configmaps')).status, 403, 'an unrestricted list');
    const byName = await asAlice('GET', '/api/v1/namespaces/team-b/configmaps?fieldSelector=metadata.name%3Dallowed');
    assert.equal(byName.status, 200, byName.text);
    assert.deepEqual(
      byName.json.items.map((i: { metadata: { name: string } }) => i.metadata.name),
      ['allowed'],
    );
  });

  it('lets a non-master impersonate only what it is granted, with the impersonation verbs', async () => {
    const refused = await call(t.server, 'GET', '/api/v1/namespaces/team-a/configmaps', undefined, { token: alice, headers: { 'Impersonate-User': 'bob' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.json.message, `users "bob" is forbidden: User "${ALICE}" cannot impersonate resource "users" in API group "" at the cluster scope`);
  });

  it('keeps the admin all-powerful, even after the cluster-admin binding is deleted (system:masters)', async () => {
    await admin('DELETE', `${RBAC}/clusterrolebindings/cluster-admin`);
    await admin('GET', '/api/v1/nodes');
    await admin('POST', '/api/v1/namespaces/istio-system/serviceaccounts/ztunnel/token', { spec: {} });
    const who = await call(t.server, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    assert.deepEqual(who.json.status.userInfo.groups, ['system:masters', 'system:authenticated']);
  });

  it("enforces the mesh's own deploy/istiod-lite/rbac.yaml for istiod-lite's ServiceAccount", async () => {
    const deploy = resolve(import.meta.dirname, '../../../deploy/istiod-lite');
    const k = (...args: string[]) => kubectl('v1.34', t.server, args);
    for (const file of ['namespace.yaml', 'rbac.yaml']) {
      const applied = await k('apply', '-f', join(deploy, file));
      assert.equal(applied.code, 0, applied.stderr);
    }
    const istiod = 'system:serviceaccount:istio-system:istiod-lite';
    const cases: [string[], string][] = [
      [['list', 'pods', '--all-namespaces'], 'yes'],
      [['patch', 'services', '--subresource=status', '-n', 'team-a'], 'yes'],
      [['create', 'tokenreviews.authentication.k8s.io'], 'yes'],
      [['get', 'secrets/istio-ca-secret', '-n', 'istio-system'], 'yes'],
      [['get', 'secrets/some-app-credentials', '-n', 'istio-system'], 'no'], // only the CA's Secrets, by name
      [['get', 'secrets', '-n', 'team-a'], 'no'], // its Role is the root namespace's only
      [['create', 'serviceaccounts/ztunnel', '--subresource=token', '-n', 'istio-system'], 'no'],
      [['delete', 'pods', '-n', 'team-a'], 'no'],
    ];
    for (const [args, want] of cases) assert.equal((await k('auth', 'can-i', ...args, '--as', istiod)).stdout.trim(), want, args.join(' '));
  });

  for (const version of KUBECTL_VERSIONS) {
    it(`answers kubectl ${version} auth can-i yes and no, for the admin and --as a ServiceAccount`, async () => {
      const k = (...args: string[]) => kubectl(version, t.server, args);
      const yes = await k('auth', 'can-i', 'list', 'configmaps', '-n', 'team-a', '--as', ALICE);
      assert.deepEqual([yes.code, yes.stdout.trim()], [0, 'yes'], yes.stderr);
      const no = await k('auth', 'can-i', 'list', 'configmaps', '-n', 'istio-system', '--as', ALICE);
      assert.deepEqual([no.code, no.stdout.trim()], [1, 'no'], no.stderr);
      const named = await k('auth', 'can-i', 'create', 'serviceaccounts/ztunnel', '--subresource=token', '-n', 'istio-system', '--as', ALICE);
      assert.equal(named.stdout.trim(), 'yes', named.stderr);
      const everything = await k('auth', 'can-i', '*', '*', '--all-namespaces');
      assert.deepEqual([everything.code, everything.stdout.trim()], [0, 'yes'], everything.stderr);
      const denied = await k('get', 'configmaps', '-n', 'istio-system', '--as', ALICE);
      assert.equal(denied.code, 1);
      assert.match(
        denied.stderr,
        /Error from server \(Forbidden\): configmaps is forbidden: User "system:serviceaccount:default:alice" cannot list resource "configmaps" in API group "" in the namespace "istio-system"/,
      );
    });
  }
});
