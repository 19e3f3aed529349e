// `kubectl exec` against the API server: pods/exec over WebSocket (kubectl ≥1.31), into a
// "container" that is a process, as on the local cluster (containerID local://<pid>).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { call, kubectl, startTestServer, type TestServer } from './harness.ts';

describe('pods/exec over WebSocket', function () {
  this.timeout(60_000);
  let t: TestServer;
  let container: ChildProcess;

  before(async () => {
    t = await startTestServer();
    // The container: a process with an environment of its own, in a working directory.
    container = spawn('sleep', ['120'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GREETING: 'hello from the container' },
      cwd: '/tmp',
      stdio: 'ignore',
    });
    const created = await call(t.server, 'POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'web' },
      spec: {
        nodeName: 'node-1',
        containers: [
          { name: 'app', image: 'local' },
          { name: 'idle', image: 'local' },
        ],
      },
    });
    assert.equal(created.status, 201, created.text);
    const status = await call(
      t.server,
      'PATCH',
      '/api/v1/namespaces/default/pods/web/status',
      { status: { phase: 'Running', containerStatuses: [{ name: 'app', containerID: `local://${container.pid}`, ready: true }] } },
      { contentType: 'application/merge-patch+json' },
    );
    assert.equal(status.status, 200, status.text);
  });
  after(async () => {
    container?.kill('SIGKILL');
    await t?.cleanup();
  });

  for (const version of ['v1.32', 'v1.34']) {
    it(`kubectl ${version} runs a command with the container's environment and directory, and gets its output and exit code`, async () => {
      const r = await kubectl(version, t.server, ['exec', 'web', '--', 'sh', '-c', 'echo "$GREETING in $PWD"; echo oops >&2; exit 3']);
      assert.equal(r.stdout, 'hello from the container in /tmp\n');
      assert.match(r.stderr, /^oops$/m);
      assert.match(r.stderr, /^command terminated with exit code 3$/m);
      assert.equal(r.code, 3, r.stderr);
    });

    it(`kubectl ${version} exec -i passes stdin through`, async () => {
      const r = await kubectl(version, t.server, ['exec', '-i', 'web', '--', 'tr', 'a-z', 'A-Z'], { input: 'shout\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'SHOUT\n');
    });
  }

  it('refuses a container that is not running, a missing command, and SPDY (kubectl 1.20), saying why', async () => {
    const idle = await kubectl('v1.34', t.server, ['exec', 'web', '-c', 'idle', '--', 'true']);
    assert.notEqual(idle.code, 0);
    assert.match(idle.stderr, /container idle of pod default\/web is not running/);
    const old = await kubectl('v1.20', t.server, ['exec', 'web', '--', 'true']);
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /exec is served over WebSocket .*SPDY upgrades are not supported/);
    const none = await kubectl('v1.34', t.server, ['exec', 'web', '--', 'no-such-command-here']);
    assert.equal(none.code, 127, none.stderr);
  });

  it('authorizes exec as create on pods/exec: a ServiceAccount that may only read pods is refused', async () => {
    const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
    const role = { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] };
    assert.equal((await call(t.server, 'POST', `${rbac}/roles`, role)).status, 201);
    const binding = {
      metadata: { name: 'pod-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'default' }],
    };
    assert.equal((await call(t.server, 'POST', `${rbac}/rolebindings`, binding)).status, 201);
    const r = await kubectl('v1.34', t.server, ['exec', 'web', '--as', 'system:serviceaccount:default:default', '--', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot create resource "pods\/exec" in API group "" in the namespace "default"/);
  });
});
