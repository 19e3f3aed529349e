import assert from 'node:assert/strict';
import type { XdsNode } from '@ambient/api/grpc';
import type { Caller } from '../../src/auth/caller.ts';
import type { PodLookup, PodRecord } from '../../src/kube/pod-lookup.ts';
import { authorizeProxy } from '../../src/xds/proxy-authorization.ts';

const ztunnelA: Caller = {
  username: 'system:serviceaccount:istio-system:ztunnel',
  namespace: 'istio-system',
  serviceAccount: 'ztunnel',
  podName: 'ztunnel-x1',
  nodeName: 'node-a',
};
const ztunnelUnbound: Caller = { username: 'system:serviceaccount:istio-system:ztunnel', namespace: 'istio-system', serviceAccount: 'ztunnel' };
const waypoint: Caller = { username: 'system:serviceaccount:shop:waypoint', namespace: 'shop', serviceAccount: 'waypoint' };
const web: Caller = { username: 'system:serviceaccount:shop:web', namespace: 'shop', serviceAccount: 'web' };
const rootTester: Caller = { username: 'system:serviceaccount:istio-system:tester', namespace: 'istio-system', serviceAccount: 'tester' };
/** Pod-bound tokens of pods with an injected sidecar. */
const webPod: Caller = {
  username: 'system:serviceaccount:shop:web',
  namespace: 'shop',
  serviceAccount: 'web',
  podName: 'web-1',
  podUid: 'uid-web-1',
  nodeName: 'node-a',
};
const cartPod: Caller = { username: 'system:serviceaccount:shop:cart', namespace: 'shop', serviceAccount: 'cart', podName: 'cart-1', podUid: 'uid-cart-1' };
/** A token bound to pod web-2, which (per the API server) runs as ServiceAccount web, though the token names cart. */
const mismatched: Caller = { username: 'system:serviceaccount:shop:cart', namespace: 'shop', serviceAccount: 'cart', podName: 'web-2' };
const pods: PodLookup = {
  podsOnNode: () => [],
  podByName: (namespace, name) =>
    (
      [
        { namespace: 'shop', name: 'web-1', uid: 'uid-web-1', serviceAccount: 'web', nodeName: 'node-a' },
        { namespace: 'shop', name: 'web-2', uid: 'uid-web-2', serviceAccount: 'web', nodeName: 'node-b' },
        { namespace: 'shop', name: 'cart-1', uid: 'uid-cart-1', serviceAccount: 'cart', nodeName: 'node-b' },
      ] satisfies PodRecord[]
    ).find((p) => p.namespace === namespace && p.name === name),
};
const ctx = { rootNamespace: 'istio-system', pods };
const fakeZtunnel: Caller = { username: 'system:serviceaccount:shop:ztunnel', namespace: 'shop', serviceAccount: 'ztunnel', nodeName: 'node-a' };

describe('authorizeProxy', () => {
  const cases: { name: string; node: XdsNode; caller: Caller; want: 'ok' | 'invalid-argument' | 'permission-denied'; message?: RegExp }[] = [
    { name: 'ztunnel on its own node', node: { type: 'ztunnel', nodeName: 'node-a' }, caller: ztunnelA, want: 'ok' },
    {
      name: 'ztunnel claiming another node',
      node: { type: 'ztunnel', nodeName: 'node-b' },
      caller: ztunnelA,
      want: 'permission-denied',
      message: /claims node "node-b" but its token is bound to node "node-a"/,
    },
    { name: 'ztunnel with a token that proves no node', node: { type: 'ztunnel', nodeName: 'node-b' }, caller: ztunnelUnbound, want: 'ok' },
    { name: 'ztunnel without node_name', node: { type: 'ztunnel' }, caller: ztunnelA, want: 'invalid-argument', message: /node_name is required/ },
    {
      name: 'a workload claiming ztunnel',
      node: { type: 'ztunnel', nodeName: 'node-a' },
      caller: web,
      want: 'permission-denied',
      message: /needs ServiceAccount istio-system\/ztunnel, caller is system:serviceaccount:shop:web/,
    },
    {
      name: 'a ztunnel ServiceAccount outside the root namespace',
      node: { type: 'ztunnel', nodeName: 'node-a' },
      caller: fakeZtunnel,
      want: 'permission-denied',
    },
    { name: 'waypoint as itself', node: { type: 'waypoint', namespace: 'shop', name: 'waypoint' }, caller: waypoint, want: 'ok' },
    { name: 'waypoint with empty namespace/name defaults to its ServiceAccount', node: { type: 'waypoint' }, caller: waypoint, want: 'ok' },
    {
      name: 'waypoint claiming another namespace',
      node: { type: 'waypoint', namespace: 'bank', name: 'waypoint' },
      caller: waypoint,
      want: 'permission-denied',
      message: /waypoint bank\/waypoint needs ServiceAccount bank\/waypoint/,
    },
    { name: 'waypoint claiming another name', node: { type: 'waypoint', namespace: 'shop', name: 'other' }, caller: waypoint, want: 'permission-denied' },
    {
      name: 'test while test proxies are not enabled (they used to be open to any authenticated caller)',
      node: { type: 'test' },
      caller: rootTester,
      want: 'permission-denied',
      message: /proxy type test is disabled.*--allow-test-proxies/,
    },
    { name: 'a sidecar as its own pod', node: { type: 'sidecar', namespace: 'shop', name: 'web-1' }, caller: webPod, want: 'ok' },
    { name: "a sidecar with empty namespace/name defaults to its token's pod", node: { type: 'sidecar' }, caller: cartPod, want: 'ok' },
    {
      name: 'a sidecar claiming another pod of the same ServiceAccount',
      node: { type: 'sidecar', namespace: 'shop', name: 'web-2' },
      caller: webPod,
      want: 'permission-denied',
      message: /sidecar shop\/web-2 needs a token bound to pod shop\/web-2, caller's is bound to pod shop\/web-1/,
    },
    {
      name: 'a sidecar claiming a pod of another ServiceAccount',
      node: { type: 'sidecar', namespace: 'shop', name: 'cart-1' },
      caller: webPod,
      want: 'permission-denied',
    },
    {
      name: 'a sidecar whose pod runs as another ServiceAccount than its token names',
      node: { type: 'sidecar', namespace: 'shop', name: 'web-2' },
      caller: mismatched,
      want: 'permission-denied',
      message: /the pod runs as ServiceAccount shop\/web, caller is system:serviceaccount:shop:cart/,
    },
    {
      name: 'a sidecar whose token was bound to an earlier pod of the same name',
      node: { type: 'sidecar' },
      caller: { ...webPod, podUid: 'uid-old' },
      want: 'permission-denied',
      message: /earlier pod of that name \(uid uid-old, the pod's is uid-web-1\)/,
    },
    {
      name: 'a sidecar with a token bound to no pod',
      node: { type: 'sidecar', namespace: 'shop', name: 'web-1' },
      caller: { username: webPod.username, namespace: 'shop', serviceAccount: 'web' },
      want: 'permission-denied',
      message: /needs a token bound to its pod/,
    },
    {
      name: 'a sidecar whose pod istiod-lite does not know',
      node: { type: 'sidecar' },
      caller: { ...webPod, podName: 'web-9' },
      want: 'permission-denied',
      message: /knows no pod shop\/web-9/,
    },
    {
      name: 'unknown type',
      node: { type: 'gateway' },
      caller: web,
      want: 'invalid-argument',
      message: /unknown proxy type "gateway": want ztunnel, waypoint, sidecar or test/,
    },
    { name: 'no type', node: {}, caller: web, want: 'invalid-argument' },
  ];
  for (const c of cases) {
    it(`${c.want === 'ok' ? 'allows' : 'refuses'} ${c.name}`, () => {
      const verdict = authorizeProxy(c.node, c.caller, ctx);
      if (c.want === 'ok') {
        assert.ok(verdict.ok, verdict.ok ? '' : verdict.message);
      } else {
        assert.ok(!verdict.ok);
        assert.equal(verdict.code, c.want);
        if (c.message) assert.match(verdict.message, c.message);
      }
    });
  }

  it('with --allow-test-proxies, allows test only to ServiceAccounts of the root namespace', () => {
    assert.ok(authorizeProxy({ type: 'test' }, rootTester, { ...ctx, allowTestProxies: true }).ok);
    const workload = authorizeProxy({ type: 'test' }, web, { ...ctx, allowTestProxies: true });
    assert.ok(!workload.ok && workload.code === 'permission-denied' && /needs a ServiceAccount of the root namespace istio-system/.test(workload.message));
  });

  it('fills the proxy identity from the claim and the caller', () => {
    const verdict = authorizeProxy({ type: 'waypoint' }, waypoint, ctx);
    assert.deepEqual(verdict, { ok: true, proxy: { id: 'waypoint~~waypoint.shop', type: 'waypoint', nodeName: '', namespace: 'shop', name: 'waypoint' } });
    const z = authorizeProxy({ id: 'ztunnel~node-a~x', type: 'ztunnel', nodeName: 'node-a' }, ztunnelA, ctx);
    assert.deepEqual(z, { ok: true, proxy: { id: 'ztunnel~node-a~x', type: 'ztunnel', nodeName: 'node-a', namespace: 'istio-system', name: 'ztunnel-x1' } });
    // A sidecar's node is its pod's, whatever it claims.
    const sidecar = authorizeProxy({ type: 'sidecar', nodeName: 'elsewhere' }, webPod, ctx);
    assert.deepEqual(sidecar, { ok: true, proxy: { id: 'sidecar~node-a~web-1.shop', type: 'sidecar', nodeName: 'node-a', namespace: 'shop', name: 'web-1' } });
  });

  it('admits no sidecar when it has no pods to check the claim against', () => {
    const verdict = authorizeProxy({ type: 'sidecar' }, webPod, { rootNamespace: 'istio-system' });
    assert.ok(!verdict.ok && verdict.code === 'permission-denied');
  });
});
