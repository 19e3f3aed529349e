import assert from 'node:assert/strict';
import type { XdsNode } from '@ambient/api/grpc';
import type { Caller } from '../../src/auth/caller.ts';
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
    { name: 'unknown type', node: { type: 'sidecar' }, caller: web, want: 'invalid-argument', message: /unknown proxy type "sidecar"/ },
    { name: 'no type', node: {}, caller: web, want: 'invalid-argument' },
  ];
  for (const c of cases) {
    it(`${c.want === 'ok' ? 'allows' : 'refuses'} ${c.name}`, () => {
      const verdict = authorizeProxy(c.node, c.caller, 'istio-system');
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
    assert.ok(authorizeProxy({ type: 'test' }, rootTester, 'istio-system', true).ok);
    const workload = authorizeProxy({ type: 'test' }, web, 'istio-system', true);
    assert.ok(!workload.ok && workload.code === 'permission-denied' && /needs a ServiceAccount of the root namespace istio-system/.test(workload.message));
  });

  it('fills the proxy identity from the claim and the caller', () => {
    const verdict = authorizeProxy({ type: 'waypoint' }, waypoint, 'istio-system');
    assert.deepEqual(verdict, { ok: true, proxy: { id: 'waypoint~~waypoint.shop', type: 'waypoint', nodeName: '', namespace: 'shop', name: 'waypoint' } });
    const z = authorizeProxy({ id: 'ztunnel~node-a~x', type: 'ztunnel', nodeName: 'node-a' }, ztunnelA, 'istio-system');
    assert.deepEqual(z, { ok: true, proxy: { id: 'ztunnel~node-a~x', type: 'ztunnel', nodeName: 'node-a', namespace: 'istio-system', name: 'ztunnel-x1' } });
  });
});
