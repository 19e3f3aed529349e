// The real kubectl (1.20 and 1.34) against the embedded API server, unmodified.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, KUBECTL_VERSIONS, kubectl, kubectlPath, startTestServer, type TestServer } from './harness.ts';

const POD = (image: string): string => `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: app
    image: ${image}
`;

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 0}
              color: {type: string, enum: [red, blue]}
`;

for (const version of KUBECTL_VERSIONS) {
  describe(`kubectl ${version} against the api server`, function () {
    this.timeout(60_000);
    let t: TestServer;
    const file = (name: string, text: string): string => {
      const p = join(t.dataDir, name);
      writeFileSync(p, text);
      return p;
    };
    const k = (...args: string[]) => kubectl(version, t.server, args);

    before(async () => {
      t = await startTestServer();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('applies, re-applies a change, then reports unchanged; label, annotate, get, describe, delete', async () => {
      assert.match((await k('apply', '-f', file('pod1.yaml', POD('busybox:1.36')))).stdout, /pod\/web created/);
      assert.match((await k('apply', '-f', file('pod2.yaml', POD('busybox:1.37')))).stdout, /pod\/web configured/);
      assert.match((await k('apply', '-f', file('pod2.yaml', POD('busybox:1.37')))).stdout, /pod\/web unchanged/);
      assert.equal((await k('label', 'pod', 'web', 'tier=front')).code, 0);
      assert.equal((await k('annotate', 'pod', 'web', 'note=hello')).code, 0);
      const table = await k('get', 'pods');
      assert.match(table.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
      assert.match(table.stdout, /\nweb\s+0\/1\s+Pending\s+0\s+\d+s\n/);
      assert.equal((await k('get', 'pods', '-o', 'jsonpath={.items[*].metadata.name}')).stdout, 'web');
      const yaml = (await k('get', 'pod', 'web', '-o', 'yaml')).stdout;
      assert.match(yaml, /image: busybox:1\.37/);
      assert.match(yaml, /tier: front/);
      assert.match(yaml, /note: hello/);
      const described = await k('describe', 'pod', 'web');
      assert.equal(described.code, 0, described.stderr);
      assert.match(described.stdout, /Name:\s+web/);
      assert.match(described.stdout, /Labels:\s+app=web\n\s+tier=front/);
      assert.match((await k('delete', 'pod', 'web')).stdout, /pod "web" deleted/);
      assert.match((await k('get', 'pod', 'web')).stderr, /pods "web" not found/);
    });

    it('applies server-side and keeps the applied value', async () => {
      const first = await k('apply', '--server-side', '-f', file('ssa1.yaml', POD('nginx:1.25')));
      assert.match(first.stdout, /pod\/web serverside-applied/, first.stderr);
      await k('apply', '--server-side', '-f', file('ssa2.yaml', POD('nginx:1.26')));
      assert.equal((await k('get', 'pod', 'web', '-o', 'jsonpath={.spec.containers[0].image}')).stdout, 'nginx:1.26');
      await k('delete', 'pod', 'web');
    });

    it('lists across pages with --chunk-size', async () => {
      const ns = `chunks-${version.replace('.', '-')}`;
      assert.equal((await k('create', 'namespace', ns)).code, 0);
      for (const name of ['one', 'two', 'three']) assert.equal((await k('create', 'configmap', name, '-n', ns)).code, 0);
      const listed = await k('get', 'configmaps', '-n', ns, '--chunk-size=1', '-o', 'name', '-v=6');
      assert.equal(listed.code, 0, listed.stderr);
      // -v=6 logs each request: four pages, three of them asked for with a continue token.
      assert.equal(listed.stderr.match(/configmaps\?continue=[^&\s]+&limit=1/g)?.length, 3, listed.stderr);
      assert.deepEqual(listed.stdout.trim().split('\n'), ['configmap/kube-root-ca.crt', 'configmap/one', 'configmap/three', 'configmap/two']);
    });

    it('streams changes with get -w', async () => {
      const child = spawn(kubectlPath(version), ['get', 'configmaps', '-w'], {
        env: { PATH: process.env.PATH ?? '', HOME: t.dataDir, KUBECONFIG: t.server.kubeconfigPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        await waitFor(() => out.includes('kube-root-ca.crt'), 'initial list');
        const created = await call(t.server, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'watched' }, data: { a: 'b' } });
        assert.equal(created.status, 201);
        await waitFor(() => /\nwatched\s+1\s+/.test(out), 'the created configmap in the watch output');
      } finally {
        child.kill('SIGKILL');
      }
    });

    it("shows a CRD's printer columns and reports schema violations", async () => {
      assert.equal((await k('apply', '-f', file('crd.yaml', CRD))).code, 0);
      const applied = await k('apply', '-f', file('w1.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, color: red}\n'));
      assert.equal(applied.code, 0, applied.stderr);
      const got = await k('get', 'widgets');
      // Like apiextensions-apiserver: NAME, then exactly the declared columns.
      assert.match(got.stdout, /^NAME\s+SIZE\s+COLOR\nw1\s+3\s+red\n$/);
      const bad = await k('apply', '-f', file('w2.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: "big"}\n'));
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /spec\.size: Invalid value: "string": spec\.size in body must be of type integer/);
      assert.equal((await k('delete', 'crd', 'widgets.example.com')).code, 0);
    });

    it('fails on bad YAML, a malformed body and an unknown kind', async () => {
      const yaml = await k('apply', '-f', file('bad.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: x\n  bad'));
      assert.notEqual(yaml.code, 0);
      assert.match(yaml.stderr, /error converting YAML to JSON/);
      const raw = await k('create', '--raw', '/api/v1/namespaces/default/configmaps', '-f', file('bad.json', '{"kind":"ConfigMap",'));
      assert.notEqual(raw.code, 0);
      assert.match(raw.stderr, /BadRequest.*json parse error/);
      const unknown = await k('apply', '-f', file('gizmo.yaml', 'apiVersion: v1\nkind: Gizmo\nmetadata: {name: x}\n'));
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /no matches for kind "Gizmo" in version "v1"/);
    });
  });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
