import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { deploymentPod, planDeployment, templateHash } from '../../src/controllers/plan-deployment.ts';

const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', command: ['serve'] }] } };
const deploy = (replicas: number | undefined, tpl: typeof template = template): V1Deployment => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'd-uid', generation: 3 },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: tpl },
});
const pod = (name: string, hash: string, ready: boolean, created = 0): V1Pod => ({
  metadata: { name, labels: { app: 'web', 'pod-template-hash': hash }, creationTimestamp: new Date(created) },
  spec: { nodeName: 'node1', containers: [] },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const T = '2026-01-01T00:00:00Z';
const h = templateHash(template);
const changed = { ...template, spec: { containers: [{ name: 'app', command: ['serve', '--v2'] }] } };

describe('deployment plan', () => {
  it('creates one replica by default', () => {
    const plan = planDeployment(deploy(undefined), [], T);
    assert.equal(plan.create, 1);
    assert.deepEqual(plan.deletePods, []);
  });

  it('scales up by the missing count', () => {
    assert.equal(planDeployment(deploy(3), [pod('a', h, true)], T).create, 2);
  });

  it('scales down removing not-ready, then the youngest pods', () => {
    const plan = planDeployment(deploy(1), [pod('old', h, true, 1), pod('young', h, true, 2), pod('sick', h, false, 0)], T);
    assert.equal(plan.create, 0);
    assert.deepEqual(plan.deletePods, ['sick', 'young']);
  });

  it('on a template change creates new pods first and keeps old ones until new are ready', () => {
    const d = deploy(2, changed);
    const nh = templateHash(changed);
    assert.notEqual(nh, h);
    const start = planDeployment(d, [pod('o1', h, true), pod('o2', h, true)], T);
    assert.equal(start.create, 2);
    assert.deepEqual(start.deletePods, []);
    const half = planDeployment(d, [pod('o1', h, true), pod('o2', h, true), pod('n1', nh, true), pod('n2', nh, false)], T);
    assert.equal(half.create, 0);
    assert.equal(half.deletePods.length, 1);
    const done = planDeployment(d, [pod('o1', h, true), pod('n1', nh, true), pod('n2', nh, true)], T);
    assert.deepEqual(done.deletePods, ['o1']);
  });

  it('scales to zero by deleting every pod', () => {
    const plan = planDeployment(deploy(0), [pod('a', h, true), pod('b', 'other', true)], T);
    assert.deepEqual(plan.deletePods.sort(), ['a', 'b']);
  });

  it('reports status the READY column reads', () => {
    const { status } = planDeployment(deploy(2), [pod('a', h, true), pod('b', h, false)], T);
    assert.equal(status.observedGeneration, 3);
    assert.equal(status.replicas, 2);
    assert.equal(status.updatedReplicas, 2);
    assert.equal(status.readyReplicas, 1);
    assert.equal(status.availableReplicas, 1);
    assert.equal(status.unavailableReplicas, 1);
    assert.equal(status.conditions.find((c) => c.type === 'Available')?.status, 'False');
    const full = planDeployment(deploy(2), [pod('a', h, true), pod('b', h, true)], T).status;
    assert.equal(full.conditions.find((c) => c.type === 'Available')?.status, 'True');
    assert.equal(full.conditions.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetAvailable');
  });

  it('hashes templates the same whether they came from a list (Dates) or a watch (strings)', () => {
    const fromWatch = { metadata: { labels: { app: 'web' }, creationTimestamp: null }, spec: template.spec };
    assert.equal(templateHash(fromWatch), h);
  });

  it('builds pods named <deployment>-<hash>-<suffix> owned by the deployment', () => {
    const p = deploymentPod(deploy(1), h, 'abcde');
    assert.equal(p.metadata?.name, `web-${h}-abcde`);
    assert.equal(p.metadata?.labels?.['pod-template-hash'], h);
    assert.deepEqual(p.metadata?.ownerReferences?.[0], {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'web',
      uid: 'd-uid',
      controller: true,
      blockOwnerDeletion: true,
    });
    assert.deepEqual(p.spec?.containers[0]?.command, ['serve']);
  });
});
