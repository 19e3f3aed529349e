// What the install paths render, applied by the real kubectl (v1.34) and helm to the local
// cluster's embedded API server (the API server alone: no nodes, no pods run): the base is
// created, the chart's default render over it changes nothing but the Namespace's Helm
// annotation, the overlays and the non-default render pass a server dry run, the API server
// takes each component's RBAC decisions as rbac.test.ts pins them, and helm itself takes the
// release over.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizationV1Api, KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { type ApiServer, startApiServer } from '@ambient/local-cluster/apiserver';
import { chartDir, nonDefaultValues, render, type Source, tool } from './render.ts';

/** `kind.group/name verb` lines of kubectl apply, as a map from object to what happened. */
function applied(stdout: string): Map<string, string> {
  return new Map(
    stdout
      .trim()
      .split('\n')
      .map((line) => {
        const m = /^(\S+) (created|configured|unchanged|serverside-applied)( \(server dry run\))?$/.exec(line);
        assert.ok(m, `unexpected kubectl apply line: ${line}`);
        return [m[1]!, m[2]!] as const;
      }),
  );
}

interface Access {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

const sa = (name: string) => ({
  user: `system:serviceaccount:istio-system:${name}`,
  groups: ['system:serviceaccounts', 'system:serviceaccounts:istio-system', 'system:authenticated'],
});

describe('deploy/ applied with the real kubectl and helm to the embedded API server', function () {
  this.timeout(60_000);
  let dir: string;
  let api: ApiServer;
  const files = {} as Record<Source, string>;
  const kubectl = (...args: string[]) => tool('kubectl', args, { KUBECONFIG: api.kubeconfigPath, HOME: dir });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deploy-apply-'));
    api = await startApiServer({ dataDir: join(dir, 'data'), port: 0, logger: pino({ level: 'silent' }) });
    for (const source of ['base', 'helm default', 'helm non-default', 'overlay dev', 'overlay prod'] as const) {
      files[source] = join(dir, `${source.replace(' ', '-')}.yaml`);
      writeFileSync(files[source], (await render(source)).yaml);
    }
  });
  after(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates every object of the base with kubectl apply', async () => {
    const r = await kubectl('apply', '-f', files.base);
    assert.equal(r.code, 0, r.stderr);
    const results = applied(r.stdout);
    assert.equal(results.size, (await render('base')).objects.length);
    assert.deepEqual([...new Set(results.values())], ['created']);
    const got = await kubectl('get', 'daemonset', 'istio-cni-node', 'ztunnel', '-n', 'istio-system', '-o', 'name');
    assert.deepEqual(got.stdout.trim().split('\n'), ['daemonset.apps/istio-cni-node', 'daemonset.apps/ztunnel'], got.stderr);
    const istiod = await kubectl(
      'get',
      'deployment',
      'istiod-lite',
      '-n',
      'istio-system',
      '-o',
      'jsonpath={.spec.replicas} {.spec.template.spec.securityContext.runAsUser}',
    );
    assert.equal(istiod.stdout, '2 65532', istiod.stderr);
  });

  it("applies the chart's default render over it: everything unchanged but the Namespace's keep annotation", async () => {
    const r = await kubectl('apply', '-f', files['helm default']);
    assert.equal(r.code, 0, r.stderr);
    const changed = [...applied(r.stdout)].filter(([, what]) => what !== 'unchanged');
    assert.deepEqual(changed, [['namespace/istio-system', 'configured']]);
  });

  it('accepts the overlays and the non-default chart render in a server dry run, and stores nothing of them', async () => {
    const [dev, prod, helm] = await Promise.all(
      (['overlay dev', 'overlay prod', 'helm non-default'] as const).map((s) => kubectl('apply', '--dry-run=server', '-f', files[s])),
    );
    for (const r of [dev!, prod!, helm!]) assert.equal(r.code, 0, r.stderr);
    assert.equal(applied(dev!.stdout).get('deployment.apps/istiod-lite'), 'configured');
    assert.equal(applied(dev!.stdout).get('daemonset.apps/istio-cni-node'), 'configured');
    assert.equal(applied(prod!.stdout).get('poddisruptionbudget.policy/istiod-lite'), 'created');
    assert.equal(applied(helm!.stdout).get('daemonset.apps/ztunnel'), 'configured');
    const after = await kubectl(
      'get',
      'deployment',
      'istiod-lite',
      '-n',
      'istio-system',
      '-o',
      'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}',
    );
    assert.equal(after.stdout, '2 ambient/istiod-lite:0.1.0');
    const pdbs = await kubectl('get', 'poddisruptionbudgets', '-n', 'istio-system', '-o', 'name');
    assert.equal(pdbs.stdout, '', pdbs.stderr);
  });

  it('authorizes what each component calls, and refuses its neighbours', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const cases: [string, Access, boolean][] = [
      ['istiod-lite', { verb: 'watch', resource: 'pods' }, true],
      ['istiod-lite', { verb: 'list', group: 'gateway.networking.k8s.io', resource: 'httproutes' }, true],
      ['istiod-lite', { verb: 'patch', group: 'gateway.networking.k8s.io', resource: 'gateways', subresource: 'status', namespace: 'shop' }, true],
      ['istiod-lite', { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }, true],
      ['istiod-lite', { verb: 'patch', resource: 'configmaps', namespace: 'shop', name: 'istio-ca-root-cert' }, true],
      ['istiod-lite', { verb: 'create', group: 'apps', resource: 'deployments', namespace: 'shop' }, true],
      ['istiod-lite', { verb: 'get', resource: 'secrets', namespace: 'istio-system', name: 'istio-ca-secret' }, true],
      ['istiod-lite', { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'istio-system', name: 'istiod-lite-leader' }, true],
      [
        'istiod-lite',
        { verb: 'patch', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: 'istio-sidecar-injector' },
        true,
      ],
      ['istiod-lite', { verb: 'get', resource: 'secrets', namespace: 'istio-system', name: 'some-app-credentials' }, false],
      ['istiod-lite', { verb: 'get', resource: 'secrets', namespace: 'shop', name: 'istio-ca-secret' }, false],
      ['istiod-lite', { verb: 'delete', group: 'apps', resource: 'deployments', namespace: 'shop' }, false],
      ['istiod-lite', { verb: 'update', group: 'gateway.networking.k8s.io', resource: 'gateways', namespace: 'shop' }, false],
      ['istiod-lite', { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' }, false],
      ['istiod-lite', { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'istio-system', name: 'kube-scheduler' }, false],
      ['istiod-lite', { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'istio-system', name: 'ztunnel' }, false],
      ['istio-cni', { verb: 'list', resource: 'pods' }, true],
      ['istio-cni', { verb: 'get', resource: 'pods', namespace: 'shop', name: 'web' }, true],
      ['istio-cni', { verb: 'list', resource: 'secrets' }, false],
      ['istio-cni', { verb: 'patch', resource: 'pods', namespace: 'shop', name: 'web' }, false],
      ['ztunnel', { verb: 'get', resource: 'pods', namespace: 'shop', name: 'web' }, false],
      ['ztunnel', { verb: 'list', resource: 'services' }, false],
    ];
    const decisions = await Promise.all(
      cases.map(([who, access]) =>
        authz.createSubjectAccessReview({
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { ...sa(who), resourceAttributes: access } },
        }),
      ),
    );
    const wrong = cases
      .filter(([, , want], i) => decisions[i]!.status?.allowed !== want)
      .map(([who, access, want]) => `${who} ${JSON.stringify(access)}: want ${want}`);
    assert.deepEqual(wrong, []);
  });

  it('lets helm take the release over from kubectl and upgrade it with non-default values', async () => {
    const r = await tool(
      'helm',
      ['upgrade', '--install', 'ambient', chartDir, '--namespace', 'istio-system', '--take-ownership', '--force-conflicts', '-f', nonDefaultValues],
      { KUBECONFIG: api.kubeconfigPath, HOME: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /STATUS: deployed/);
    const istiod = await kubectl(
      'get',
      'deployment',
      'istiod-lite',
      '-n',
      'istio-system',
      '-o',
      'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}',
    );
    assert.equal(istiod.stdout, '3 registry.example.org/control/istiod-lite-custom:1.2.3-cp', istiod.stderr);
  });
});
