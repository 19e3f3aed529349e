// The incremental model (ModelMemo): what it reuses, and that a model built on the previous one
// is always the model built from scratch.
import assert from 'node:assert/strict';
import { buildMeshModel, type MeshModel } from '../../src/model/mesh-model.ts';
import type { KubeObject, MeshInputs } from '../../src/model/inputs.ts';
import { authorizationPolicy, inputs, namespace, opts, peerAuthentication, pod, service, waypoint } from './fixtures.ts';

const ambient = { 'istio.io/dataplane-mode': 'ambient' };

/** Everything a model hands out (its memo is bookkeeping). */
function content(model: MeshModel): Omit<MeshModel, 'memo' | 'acceptedExtensions'> {
  const { memo: _memo, acceptedExtensions: _accepted, ...rest } = model;
  return rest;
}

/** The same inputs with one object replaced by an edited copy (as an informer replaces an updated object). */
function edit(from: MeshInputs, kind: keyof MeshInputs, name: string, change: (o: KubeObject) => void): MeshInputs {
  const next = { ...from, [kind]: [...from[kind]] };
  const list = next[kind] as KubeObject[];
  const i = list.findIndex((o) => o.metadata?.name === name);
  assert.ok(i >= 0, `${kind} ${name} exists`);
  const copy = structuredClone(list[i]!);
  change(copy);
  list[i] = copy;
  return next;
}

function world(): MeshInputs {
  return inputs(
    namespace('shop', ambient),
    namespace('other'),
    service('cart', { selector: { app: 'cart' } }),
    service('pay', { selector: { app: 'pay' }, ip: '10.96.0.11' }),
    pod('cart-1', { labels: { app: 'cart' }, ip: '10.244.1.1' }),
    pod('cart-2', { labels: { app: 'cart' }, ip: '10.244.1.2' }),
    pod('pay-1', { labels: { app: 'pay' }, ip: '10.244.1.3' }),
    pod('lone', { ns: 'other', ip: '10.244.1.4' }),
    waypoint('wp'),
  );
}

describe('model: incremental updates', () => {
  it('keeps the Workload and Service objects of what a pod change does not touch', () => {
    const base = world();
    const a = buildMeshModel(base, opts);
    const next = edit(base, 'pods', 'cart-1', (p) => (p.metadata!.labels!.version = 'v2'));
    const b = buildMeshModel(next, opts, a);
    const uid = (name: string): string => base.pods.find((p) => p.metadata?.name === name)!.metadata!.uid!;
    assert.equal(b.workloads.get(uid('pay-1')), a.workloads.get(uid('pay-1')), 'an untouched pod keeps its Workload');
    assert.equal(b.workloads.get(uid('cart-2')), a.workloads.get(uid('cart-2')));
    assert.notEqual(b.workloads.get(uid('cart-1')), a.workloads.get(uid('cart-1')), 'the changed pod gets a new Workload');
    assert.equal(b.workloads.get(uid('cart-1'))!.canonicalRevision, 'v2');
    assert.equal(b.services.get('shop/pay.shop.svc.cluster.local'), a.services.get('shop/pay.shop.svc.cluster.local'), 'a Service of other pods is kept');
    assert.notEqual(
      b.services.get('shop/cart.shop.svc.cluster.local'),
      a.services.get('shop/cart.shop.svc.cluster.local'),
      'the changed pod’s Service is rebuilt',
    );
    assert.deepEqual(content(b), content(buildMeshModel(next, opts)));
  });

  it('rebuilds every Workload when the context changes (a namespace leaves the mesh)', () => {
    const base = world();
    const a = buildMeshModel(base, opts);
    const next = edit(base, 'namespaces', 'shop', (ns) => (ns.metadata!.labels = {}));
    const b = buildMeshModel(next, opts, a);
    for (const w of b.workloads.values()) {
      assert.notEqual(w, a.workloads.get(w.uid));
      assert.equal(w.tunnelProtocol, 'NONE', `${w.name} left the mesh with its namespace`);
    }
    assert.deepEqual(content(b), content(buildMeshModel(next, opts)));
  });

  it('always equals the model built from scratch, over a sequence of edits', () => {
    let current = world();
    let model = buildMeshModel(current, opts);
    const steps: [string, (i: MeshInputs) => MeshInputs][] = [
      ['a pod label', (i) => edit(i, 'pods', 'cart-2', (p) => (p.metadata!.labels!.version = 'v3'))],
      ['a pod turns unready', (i) => edit(i, 'pods', 'pay-1', (p) => (p.status.conditions[0].status = 'False'))],
      ['a pod moves to another Service', (i) => edit(i, 'pods', 'cart-1', (p) => (p.metadata!.labels = { app: 'pay' }))],
      ['a pod loses its address', (i) => edit(i, 'pods', 'cart-2', (p) => delete p.status.podIP)],
      ['a pod is added', (i) => ({ ...i, pods: [...i.pods, pod('pay-2', { labels: { app: 'pay' }, ip: '10.244.1.9' })] })],
      ['a pod is deleted', (i) => ({ ...i, pods: i.pods.filter((p) => p.metadata?.name !== 'lone') })],
      ['a Service selector', (i) => edit(i, 'services', 'cart', (s) => (s.spec.selector = { app: 'pay' }))],
      [
        'a selector policy',
        (i) => ({ ...i, authorizationPolicies: [authorizationPolicy('deny', { selector: { matchLabels: { app: 'pay' } }, action: 'DENY', rules: [{}] })] }),
      ],
      ['a STRICT PeerAuthentication', (i) => ({ ...i, peerAuthentications: [peerAuthentication('strict', { mtls: { mode: 'STRICT' } })] })],
      ['a pod under the strict policy changes', (i) => edit(i, 'pods', 'pay-1', (p) => (p.metadata!.labels!.version = 'v9'))],
      ['the namespace asks for the waypoint', (i) => edit(i, 'namespaces', 'shop', (ns) => (ns.metadata!.labels!['istio.io/use-waypoint'] = 'wp'))],
      ['a pod label under the waypoint', (i) => edit(i, 'pods', 'pay-2', (p) => (p.metadata!.labels!.version = 'v4'))],
      ['the policies go', (i) => ({ ...i, authorizationPolicies: [], peerAuthentications: [] })],
      ['a pod after that', (i) => edit(i, 'pods', 'pay-1', (p) => (p.metadata!.labels!.version = 'v10'))],
    ];
    for (const [what, step] of steps) {
      current = step(current);
      model = buildMeshModel(current, opts, model);
      assert.deepEqual(content(model), content(buildMeshModel(current, opts)), `after: ${what}`);
    }
  });
});
