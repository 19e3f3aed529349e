// Pods with an injected sidecar: native-tunnel HBONE workloads, and the WaypointConfig their
// sidecar runs its outbound L7 stack from.
import assert from 'node:assert/strict';
import { typeUrls } from '@ambient/api';
import { MeshState } from '../../src/mesh-state.ts';
import type { KubeObject } from '../../src/model/inputs.ts';
import { buildMeshModel, resourcesForProxy } from '../../src/model/mesh-model.ts';
import { authorizationPolicy, inputs, namespace, opts, pod, type PodOptions, service, waypoint } from './fixtures.ts';

/** A pod as the injector leaves it: the status annotation is what marks it. */
function sidecarPod(name: string, o: PodOptions = {}): KubeObject {
  const p = pod(name, o);
  p.metadata!.annotations = { 'sidecar.istio.io/status': '{"containers":["istio-proxy"],"volumes":["istiod-ca-cert","istio-token"]}' };
  return p;
}

const destinationRule = (host: string, ns = 'shop'): KubeObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: host, namespace: ns },
  spec: { host, trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 7 } } } },
});
const rateLimit = (name: string, ns: string): KubeObject => ({
  apiVersion: 'mesh.ambient.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name, namespace: ns, generation: 1 },
  spec: { targetRefs: [{ group: '', kind: 'Service', name: 'cart' }], limits: { all: { rates: [{ limit: 10, window: '1s' }] } } },
});

describe('model: sidecar pods', () => {
  describe('native tunnel', () => {
    const workloadOf = (...objects: (KubeObject | KubeObject[])[]) => {
      const m = buildMeshModel(inputs(...objects), opts);
      return [...m.workloads.values()].find((w) => w.name === 'web')!;
    };

    it('makes a sidecar pod an HBONE workload that handles its own tunnel, outside any ambient namespace', () => {
      const w = workloadOf(namespace('shop'), sidecarPod('web'));
      assert.equal(w.tunnelProtocol, 'HBONE');
      assert.equal(w.nativeTunnel, true);
    });

    it('keeps a sidecar pod native in an ambient namespace (ztunnel must not capture it)', () => {
      const w = workloadOf(namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }), sidecarPod('web'));
      assert.deepEqual([w.tunnelProtocol, w.nativeTunnel], ['HBONE', true]);
    });

    it('leaves ambient and plaintext pods without it', () => {
      assert.deepEqual(
        [workloadOf(namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }), pod('web'))].map((w) => [w.tunnelProtocol, w.nativeTunnel]),
        [['HBONE', false]],
      );
      const plain = workloadOf(namespace('shop'), pod('web'));
      assert.deepEqual([plain.tunnelProtocol, plain.nativeTunnel], ['NONE', false]);
    });

    it('ignores the annotation on a hostNetwork pod (never injected)', () => {
      const w = workloadOf(namespace('shop'), sidecarPod('web', { hostNetwork: true }));
      assert.deepEqual([w.tunnelProtocol, w.nativeTunnel], ['NONE', false]);
    });
  });

  describe("the sidecar's WaypointConfig", () => {
    const model = buildMeshModel(
      inputs(
        namespace('shop'),
        namespace('bank'),
        waypoint('wp'),
        sidecarPod('client-1', { sa: 'client', uid: 'client-1' }),
        pod('plain', { uid: 'plain' }),
        sidecarPod('done', { phase: 'Succeeded' }),
        // Bound to the waypoint: reached through it, which applies its L7 policy.
        service('web', { labels: { 'istio.io/use-waypoint': 'wp' }, ip: '10.96.0.20' }),
        // Meant for a waypoint that does not exist: refused, never served around it.
        service('ghost', { labels: { 'istio.io/use-waypoint': 'nope' }, ip: '10.96.0.21' }),
        service('cart', { ip: '10.96.0.22' }),
        service('vault', { ns: 'bank', ip: '10.96.0.23' }),
        destinationRule('cart'),
        destinationRule('web'),
        rateLimit('cart-limit', 'shop'),
        rateLimit('bank-limit', 'bank'),
        authorizationPolicy('deny-all', { action: 'DENY', rules: [{}] }, 'bank'),
      ),
      opts,
    );
    const config = model.sidecars.get('shop/client-1')!;

    it('is named after the pod and carries its identity, as a service waypoint with no L7 policy of its own', () => {
      assert.deepEqual(
        { namespace: config.namespace, name: config.name, identity: config.identity, waypointFor: config.waypointFor, authorizations: config.authorizations },
        { namespace: 'shop', name: 'client-1', identity: 'spiffe://cluster.local/ns/shop/sa/client', waypointFor: 'service', authorizations: [] },
      );
      assert.deepEqual([...model.sidecars.keys()], ['shop/client-1'], 'only running sidecar pods');
    });

    it('lists every service no waypoint fronts, in every namespace, and leaves out those with a waypoint', () => {
      assert.deepEqual(
        config.services!.map((s) => s.hostname),
        ['cart.shop.svc.cluster.local', 'vault.bank.svc.cluster.local'],
      );
      assert.deepEqual(
        model.waypoints.get('shop/wp')!.services!.map((s) => s.hostname),
        ['web.shop.svc.cluster.local'],
        'the bound service stays with its waypoint',
      );
    });

    it('carries DestinationRule traffic policies exactly as a waypoint gets them', () => {
      const cart = config.services!.find((s) => s.name === 'cart')!;
      const web = model.waypoints.get('shop/wp')!.services![0]!;
      assert.deepEqual(
        { ...cart.trafficPolicy, name: undefined },
        { ...web.trafficPolicy, name: undefined },
        'the same policy compiles the same for both proxies',
      );
      assert.equal(cart.trafficPolicy?.connectionPool?.http1MaxPendingRequests, 7);
      assert.deepEqual(cart.addresses, ['10.96.0.22']);
      assert.deepEqual(cart.routes, []);
    });

    it("passes the project's policies of every namespace", () => {
      assert.deepEqual(
        config.extensions!.map((e) => `${e.namespace}/${e.name}`),
        ['bank/bank-limit', 'shop/cart-limit'],
      );
    });

    it('gives the sidecar every address and authorization (as a ztunnel) and only its own config', () => {
      const self = { type: 'sidecar' as const, namespace: 'shop', name: 'client-1' };
      const ztunnel = { type: 'ztunnel' as const, namespace: 'istio-system', name: 'z' };
      assert.deepEqual([...resourcesForProxy(model, self, typeUrls.address).keys()], [...resourcesForProxy(model, ztunnel, typeUrls.address).keys()]);
      assert.deepEqual([...resourcesForProxy(model, self, typeUrls.authorization).keys()], ['bank/deny-all']);
      assert.deepEqual([...resourcesForProxy(model, self, typeUrls.waypointConfig).keys()], ['shop/client-1']);
      assert.equal(resourcesForProxy(model, { ...self, name: 'plain' }, typeUrls.waypointConfig).size, 0, 'a pod without a sidecar has no config');
    });
  });

  describe('MeshState', () => {
    const objects = () => [namespace('shop'), waypoint('wp'), sidecarPod('wp', { uid: 'pod-wp' }), sidecarPod('other', { uid: 'pod-other' }), service('cart')];

    it("serves a sidecar its config apart from a waypoint's of the same name", () => {
      const state = new MeshState(opts);
      state.update(inputs(...objects()), 0);
      const sidecar = state.resources({ id: 's', type: 'sidecar', nodeName: '', namespace: 'shop', name: 'wp' }, typeUrls.waypointConfig);
      const gateway = state.resources({ id: 'w', type: 'waypoint', nodeName: '', namespace: 'shop', name: 'wp' }, typeUrls.waypointConfig);
      assert.deepEqual([...sidecar.keys()], ['shop/wp']);
      assert.equal((sidecar.get('shop/wp')!.payload as { identity: string }).identity, 'spiffe://cluster.local/ns/shop/sa/default');
      assert.equal((gateway.get('shop/wp')!.payload as { identity: string }).identity, 'spiffe://cluster.local/ns/shop/sa/wp');
    });

    it('keeps unchanged sidecar configs and reports every one as changed when the shared services change', () => {
      const state = new MeshState(opts);
      const changes: Set<string>[] = [];
      state.onChange((c) => changes.push(c.changed.get(typeUrls.waypointConfig) as Set<string>));
      const node = { id: 's', type: 'sidecar' as const, nodeName: '', namespace: 'shop', name: 'other' };
      state.update(inputs(...objects()), 0);
      const first = state.resources(node, typeUrls.waypointConfig).get('shop/other');
      state.update(inputs(...objects()), 1);
      assert.equal(state.resources(node, typeUrls.waypointConfig).get('shop/other'), first, 'the same object while nothing changed');
      state.update(inputs(...objects(), service('web', { ip: '10.96.0.30' })), 2);
      assert.notEqual(state.resources(node, typeUrls.waypointConfig).get('shop/other')!.version, first!.version);
      assert.ok(changes.at(-1)!.has('shop/other') && changes.at(-1)!.has('shop/wp'));
      state.update(inputs(namespace('shop'), waypoint('wp'), service('cart'), service('web', { ip: '10.96.0.30' })), 3);
      assert.ok(changes.at(-1)!.has('shop/other'), 'a sidecar pod gone is a removal');
      assert.equal(state.resources(node, typeUrls.waypointConfig).size, 0);
    });
  });
});
