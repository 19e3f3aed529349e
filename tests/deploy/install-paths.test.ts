// The install paths render the same objects: the Helm chart with default values is the
// kustomize base exactly; the overlays and the chart's values and profiles change only what
// they say they change.
import assert from 'node:assert/strict';
import { canonical, chartDir, find, type KubeObject, objectKey, podSpec, type Rendered, render, tool, type Workload, workloads } from './render.ts';

const byKey = (objects: readonly KubeObject[]) => new Map(objects.map((o) => [objectKey(o), o]));

/** The one Helm-only field: `helm uninstall` keeps the namespace (the mesh's CA lives there). */
const HELM_KEEP = { 'helm.sh/resource-policy': 'keep' };

/** `o` without the Helm-only annotation of the Namespace (a copy: renders are shared). */
function withoutHelmKeep(o: KubeObject): KubeObject {
  if (o.kind !== 'Namespace' || o.metadata.annotations?.['helm.sh/resource-policy'] === undefined) return o;
  const copy = structuredClone(o);
  delete copy.metadata.annotations!['helm.sh/resource-policy'];
  if (Object.keys(copy.metadata.annotations!).length === 0) delete copy.metadata.annotations;
  return copy;
}

/** The objects of `r` that are not Deployments or DaemonSets must be the base's, unchanged. */
async function assertNonWorkloadsAsBase(r: Rendered, except: string[] = []): Promise<void> {
  const base = byKey((await render('base')).objects);
  for (const o of r.objects) {
    const key = objectKey(o);
    if (o.kind === 'Deployment' || o.kind === 'DaemonSet' || except.includes(key)) continue;
    assert.ok(base.has(key), `${r.source}: ${key} is not in the base`);
    assert.deepEqual(canonical(withoutHelmKeep(o)), canonical(base.get(key)), `${r.source}: ${key} differs from the base`);
  }
}

const containers = (objects: readonly KubeObject[]) =>
  workloads(objects).flatMap((w) => w.spec.template.spec.containers.map((c) => ({ workload: w.metadata.name, ...c })));

const env = (c: { env?: { name: string; value?: string }[] }, name: string) => c.env?.find((e) => e.name === name)?.value;

const NODE_COMPONENTS = [
  'v1 ServiceAccount istio-system/ztunnel',
  'apps/v1 DaemonSet istio-system/ztunnel',
  'v1 ServiceAccount istio-system/istio-cni',
  'rbac.authorization.k8s.io/v1 ClusterRole istio-cni',
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding istio-cni',
  'apps/v1 DaemonSet istio-system/istio-cni-node',
];

describe('deploy/ install paths', function () {
  this.timeout(30_000);

  it('renders with the Helm chart and default values exactly the objects of kubectl kustomize deploy/', async () => {
    const base = byKey((await render('base')).objects);
    const helm = byKey((await render('helm default')).objects);
    assert.deepEqual([...helm.keys()].sort(), [...base.keys()].sort());
    assert.deepEqual(helm.get('v1 Namespace istio-system')!.metadata.annotations, HELM_KEEP);
    for (const [key, o] of helm) assert.deepEqual(canonical(withoutHelmKeep(o)), canonical(base.get(key)), key);
  });

  it('renders the base objects in the dev overlay, with one istiod-lite, debug logs and :dev images', async () => {
    const dev = await render('overlay dev');
    assert.deepEqual([...byKey(dev.objects).keys()].sort(), [...byKey((await render('base')).objects).keys()].sort());
    await assertNonWorkloadsAsBase(dev);
    assert.equal((find(dev.objects, 'Deployment', 'istiod-lite') as Workload).spec.replicas, 1);
    const all = containers(dev.objects);
    assert.deepEqual(all.map((c) => [c.workload, c.image, env(c, 'LOG_LEVEL')]).sort(), [
      ['istio-cni-node', 'ambient/cni:dev', 'debug'],
      ['istiod-lite', 'ambient/istiod-lite:dev', 'debug'],
      ['ztunnel', 'ambient/ztunnel:dev', 'debug'],
    ]);
  });

  it('renders the base objects plus a PodDisruptionBudget in the prod overlay, with resources, spread and priority', async () => {
    const prod = await render('overlay prod');
    const pdbKey = 'policy/v1 PodDisruptionBudget istio-system/istiod-lite';
    assert.deepEqual([...byKey(prod.objects).keys()].sort(), [...byKey((await render('base')).objects).keys(), pdbKey].sort());
    await assertNonWorkloadsAsBase(prod, [pdbKey]);
    for (const c of containers(prod.objects)) {
      assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${c.workload}: requests and a memory limit`);
    }
    const istiod = find(prod.objects, 'Deployment', 'istiod-lite') as Workload;
    const spec = istiod.spec.template.spec;
    assert.equal(spec.priorityClassName, 'system-cluster-critical');
    assert.deepEqual(
      spec.topologySpreadConstraints?.map((t) => [t.topologyKey, t.whenUnsatisfiable]),
      [
        ['kubernetes.io/hostname', 'DoNotSchedule'],
        ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
      ],
    );
    const pdb = byKey(prod.objects).get(pdbKey) as KubeObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } };
    assert.equal(pdb.spec.minAvailable, 1);
    assert.ok(istiod.spec.replicas === undefined || istiod.spec.replicas > pdb.spec.minAvailable, 'a drain can evict one replica');
    const podLabels = istiod.spec.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(podLabels[k], v, 'the budget selects the istiod-lite pods');
  });

  it('puts every non-default value of ci/non-default-values.yaml where it belongs', async () => {
    const r = await render('helm non-default');
    const keys = [...byKey(r.objects).keys()];
    // cni.enabled: false
    assert.deepEqual(
      NODE_COMPONENTS.filter((k) => !keys.includes(k)),
      NODE_COMPONENTS.filter((k) => k.includes('cni')),
    );
    await assertNonWorkloadsAsBase(r);
    const istiod = find(r.objects, 'Deployment', 'istiod-lite') as Workload;
    assert.equal(istiod.spec.replicas, 3);
    const byWorkload = Object.fromEntries(containers(r.objects).map((c) => [c.workload, c]));
    assert.deepEqual(Object.keys(byWorkload).sort(), ['istiod-lite', 'ztunnel']);
    const { 'istiod-lite': cp, ztunnel } = byWorkload;
    assert.deepEqual(
      [cp!.image, cp!.imagePullPolicy, env(cp!, 'TRUST_DOMAIN'), env(cp!, 'LOG_LEVEL'), cp!.resources],
      [
        'registry.example.org/control/istiod-lite-custom:1.2.3-cp',
        'Always',
        'mesh.example.org',
        'warn',
        { requests: { cpu: '250m', memory: '300Mi' }, limits: { memory: '1Gi' } },
      ],
    );
    assert.deepEqual(
      [ztunnel!.image, ztunnel!.imagePullPolicy, env(ztunnel!, 'TRUST_DOMAIN'), env(ztunnel!, 'LOG_LEVEL'), ztunnel!.resources],
      ['registry.example.org/mesh/ztunnel:1.2.4', 'IfNotPresent', 'mesh.example.org', 'warn', { requests: { cpu: '150m', memory: '200Mi' } }],
    );
  });

  it('renders the demo profile: one istiod-lite, debug logs, requests and limits on every container', async () => {
    const r = await render('helm demo');
    assert.deepEqual([...byKey(r.objects).keys()].sort(), [...byKey((await render('base')).objects).keys()].sort());
    await assertNonWorkloadsAsBase(r);
    assert.equal((find(r.objects, 'Deployment', 'istiod-lite') as Workload).spec.replicas, 1);
    for (const c of containers(r.objects)) {
      assert.equal(env(c, 'LOG_LEVEL'), 'debug', c.workload);
      assert.ok(c.resources?.requests?.cpu && c.resources.limits?.memory, c.workload);
    }
  });

  it('renders the minimal profile: the base without ztunnel and the CNI node agent', async () => {
    const r = await render('helm minimal');
    const base = [...byKey((await render('base')).objects).keys()];
    assert.deepEqual([...byKey(r.objects).keys()].sort(), base.filter((k) => !NODE_COMPONENTS.includes(k)).sort());
    await assertNonWorkloadsAsBase(r);
    assert.deepEqual(podSpec(r.objects, 'Deployment', 'istiod-lite'), podSpec((await render('base')).objects, 'Deployment', 'istiod-lite'));
  });

  it('refuses misspelt and invalid values, an unknown profile and another namespace, saying which', async () => {
    const template = (...args: string[]) => tool('helm', ['template', 'ambient', chartDir, '--namespace', 'istio-system', ...args]);
    const cases: [string[], RegExp][] = [
      [['--set', 'istiodLite.replica=3'], /at '\/istiodLite': additional properties 'replica' not allowed/],
      [['--set', 'global.logLevel=loud'], /at '\/global\/logLevel'/],
      [['--set', 'profile=tiny'], /profile "tiny" is not one of profiles: default, demo, minimal/],
      [['--namespace', 'mesh'], /install this chart into istio-system .*not "mesh"/],
    ];
    const results = await Promise.all(cases.map(([args]) => template(...args)));
    cases.forEach(([args, want], i) => {
      assert.notEqual(results[i]!.code, 0, args.join(' '));
      assert.match(results[i]!.stderr, want, args.join(' '));
    });
  });
});
