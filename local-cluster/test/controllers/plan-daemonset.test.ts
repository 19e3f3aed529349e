import assert from 'node:assert/strict';
import type { V1DaemonSet, V1Node, V1Pod } from '@kubernetes/client-node';
import { DAEMONSET_HASH_LABEL, daemonSetPod, planDaemonSet } from '../../src/controllers/plan-daemonset.ts';
import { templateHash } from '../../src/controllers/plan-deployment.ts';

const node = (name: string, labels: Record<string, string> = {}, ready = true): V1Node => ({
  metadata: { name, labels },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const tpl = (nodeSelector?: Record<string, string>) => ({
  metadata: { labels: { app: 'zt' } },
  spec: { nodeSelector, containers: [{ name: 'zt', command: ['zt'] }] },
});
const ds = (t = tpl()): V1DaemonSet => ({
  metadata: { name: 'ztunnel', namespace: 'istio-system', uid: 'ds-uid', generation: 2 },
  spec: { selector: { matchLabels: { app: 'zt' } }, template: t },
});
const pod = (name: string, nodeName: string, hash: string, ready = true): V1Pod => ({
  metadata: { name, labels: { app: 'zt', [DAEMONSET_HASH_LABEL]: hash } },
  spec: { nodeName, containers: [] },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('daemonset plan', () => {
  it('creates one pod on each Ready node without one', () => {
    const h = templateHash(tpl());
    const plan = planDaemonSet(ds(), [node('n1'), node('n2'), node('n3', {}, false)], [pod('a', 'n1', h)]);
    assert.deepEqual(plan.createOn, ['n2']);
    assert.deepEqual(plan.deletePods, []);
    assert.equal(plan.status.desiredNumberScheduled, 2);
    assert.equal(plan.status.currentNumberScheduled, 1);
    assert.equal(plan.status.numberReady, 1);
  });

  it('honours the nodeSelector and removes pods from nodes that no longer match', () => {
    const t = tpl({ role: 'edge' });
    const h = templateHash(t);
    const plan = planDaemonSet(ds(t), [node('n1', { role: 'edge' }), node('n2')], [pod('a', 'n2', h)]);
    assert.deepEqual(plan.createOn, ['n1']);
    assert.deepEqual(plan.deletePods, ['a']);
    assert.equal(plan.status.numberMisscheduled, 1);
  });

  it('keeps a single pod per node', () => {
    const h = templateHash(tpl());
    const plan = planDaemonSet(ds(), [node('n1')], [pod('old', 'n1', 'x'), pod('cur', 'n1', h)]);
    assert.deepEqual(plan.deletePods, ['old']);
  });

  it('replaces outdated pods one at a time while the rest are ready', () => {
    const plan = planDaemonSet(ds(), [node('n1'), node('n2')], [pod('a', 'n1', 'x'), pod('b', 'n2', 'x')]);
    assert.equal(plan.deletePods.length, 1);
    assert.equal(plan.status.updatedNumberScheduled, 0);
    const waiting = planDaemonSet(ds(), [node('n1'), node('n2')], [pod('a', 'n1', 'x'), pod('b', 'n2', templateHash(tpl()), false)]);
    assert.deepEqual(waiting.deletePods, []);
  });

  it('builds pods bound to their node and owned by the daemonset', () => {
    const p = daemonSetPod(ds(), 'h', 'n1', 'abcde');
    assert.equal(p.metadata?.name, 'ztunnel-abcde');
    assert.equal(p.spec?.nodeName, 'n1');
    assert.equal(p.metadata?.ownerReferences?.[0]?.kind, 'DaemonSet');
  });
});
