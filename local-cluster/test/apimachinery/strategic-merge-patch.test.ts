import assert from 'node:assert/strict';
import { ApiError } from '../../src/apimachinery/errors.ts';
import { applyStrategicMergePatch } from '../../src/apimachinery/strategic-merge-patch.ts';
import type { KubeObject } from '../../src/apimachinery/types.ts';

function deployment(containers: unknown[], extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, finalizers: ['a', 'b'] },
    spec: { replicas: 2, template: { metadata: { labels: { app: 'web' } }, spec: { containers, ...extra } } },
  };
}

const containersOf = (o: KubeObject): { name: string; image?: string; env?: unknown[]; ports?: unknown[] }[] =>
  (o.spec as { template: { spec: { containers: [] } } }).template.spec.containers;

function assertNoDirectives(value: unknown): void {
  assert.doesNotMatch(JSON.stringify(value), /"\$(patch|retainKeys|setElementOrder|deleteFromPrimitiveList)/);
}

describe('applyStrategicMergePatch', () => {
  const live = deployment([
    {
      name: 'web',
      image: 'nginx:1.25',
      ports: [{ containerPort: 80 }],
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: '2' },
      ],
    },
    { name: 'sidecar', image: 'envoy:1' },
  ]);

  it('changes one container image the way `kubectl apply` sends it, keeping the other container', () => {
    const patch = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: {
        template: { spec: { '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }], containers: [{ image: 'nginx:1.27', name: 'web' }] } },
      },
    };
    const result = applyStrategicMergePatch(live, patch, 'Deployment');
    assert.deepEqual(
      containersOf(result).map((c) => [c.name, c.image]),
      [
        ['web', 'nginx:1.27'],
        ['sidecar', 'envoy:1'],
      ],
    );
    assert.deepEqual(containersOf(result)[0]!.ports, [{ containerPort: 80 }]);
    assert.equal(result.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], '{}');
    assertNoDirectives(result);
  });

  it('removes a container with $patch: delete', () => {
    const patch = {
      spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }], containers: [{ $patch: 'delete', name: 'sidecar' }] } } },
    };
    const result = applyStrategicMergePatch(live, patch, 'Deployment');
    assert.deepEqual(
      containersOf(result).map((c) => c.name),
      ['web'],
    );
    assertNoDirectives(result);
  });

  // apimachinery interleaves server-only items by their live position relative to the patch items.
  it('reorders containers by $setElementOrder and keeps a server-only container before the item it preceded', () => {
    const three = deployment([
      { name: 'a', image: '1' },
      { name: 'injected', image: 'x' },
      { name: 'b', image: '2' },
    ]);
    const patch = { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }], containers: [{ name: 'b', image: '3' }] } } } };
    const result = applyStrategicMergePatch(three, patch, 'Deployment');
    assert.deepEqual(
      containersOf(result).map((c) => c.name),
      ['injected', 'b', 'a'],
    );
  });

  // Without an order directive a new item has no known position and goes first, as in apimachinery.
  it('puts a new container first when the patch gives no order', () => {
    const patch = { spec: { template: { spec: { containers: [{ name: 'debug', image: 'busybox' }] } } } };
    const result = applyStrategicMergePatch(live, patch, 'Deployment');
    assert.deepEqual(
      containersOf(result).map((c) => c.name),
      ['debug', 'web', 'sidecar'],
    );
  });

  it('adds and removes labels (kubectl label)', () => {
    const added = applyStrategicMergePatch(live, { metadata: { labels: { tier: 'front' } } }, 'Deployment');
    assert.deepEqual(added.metadata.labels, { app: 'web', tier: 'front' });
    const removed = applyStrategicMergePatch(added, { metadata: { labels: { app: null } } }, 'Deployment');
    assert.deepEqual(removed.metadata.labels, { tier: 'front' });
  });

  it('merges env by name and ports by containerPort', () => {
    const patch = {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'web',
                env: [
                  { name: 'B', value: 'two' },
                  { name: 'A', $patch: 'delete' },
                  { name: 'C', value: '3' },
                ],
                ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }],
              },
            ],
          },
        },
      },
    };
    const web = containersOf(applyStrategicMergePatch(live, patch, 'Deployment'))[0]!;
    assert.deepEqual(web.env, [
      { name: 'B', value: 'two' },
      { name: 'C', value: '3' },
    ]);
    assert.deepEqual(web.ports, [{ containerPort: 80, name: 'http' }, { containerPort: 443 }]);
  });

  it('replaces a whole list with a $patch: replace item', () => {
    const patch = { spec: { template: { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'x' }] } } } };
    const result = applyStrategicMergePatch(live, patch, 'Deployment');
    assert.deepEqual(containersOf(result), [{ name: 'only', image: 'x' }]);
  });

  it('replaces a map with $patch: replace and empties it with $patch: delete', () => {
    const replaced = applyStrategicMergePatch(live, { metadata: { labels: { $patch: 'replace', fresh: 'yes' } } }, 'Deployment');
    assert.deepEqual(replaced.metadata.labels, { fresh: 'yes' });
    const deleted = applyStrategicMergePatch(live, { metadata: { labels: { $patch: 'delete' } } }, 'Deployment');
    assert.deepEqual(deleted.metadata.labels, {});
  });

  it('switches a volume source with $retainKeys', () => {
    const withVolume = deployment([{ name: 'web' }], {
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'other', emptyDir: {} },
      ],
    });
    const patch = { spec: { template: { spec: { volumes: [{ $retainKeys: ['configMap', 'name'], name: 'data', configMap: { name: 'cfg' } }] } } } };
    const result = applyStrategicMergePatch(withVolume, patch, 'Deployment');
    const volumes = (result.spec as { template: { spec: { volumes: unknown[] } } }).template.spec.volumes;
    assert.deepEqual(volumes, [
      { name: 'data', configMap: { name: 'cfg' } },
      { name: 'other', emptyDir: {} },
    ]);
    assertNoDirectives(result);
  });

  it('merges finalizers as a set and deletes with $deleteFromPrimitiveList', () => {
    const patch = { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'], '$setElementOrder/finalizers': ['c', 'b'], finalizers: ['c'] } };
    const result = applyStrategicMergePatch(live, patch, 'Deployment');
    assert.deepEqual(result.metadata.finalizers, ['c', 'b']);
    assertNoDirectives(result);
  });

  it('merges status.conditions by type', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      status: {
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'False' },
        ],
      },
    };
    const result = applyStrategicMergePatch(pod, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, 'Pod');
    assert.deepEqual(result.status, {
      phase: 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
    });
  });

  it('merges Service ports by port', () => {
    const svc: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's' },
      spec: {
        ports: [
          { port: 80, name: 'http' },
          { port: 443, name: 'https' },
        ],
      },
    };
    const result = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 443, targetPort: 8443 }] } }, 'Service');
    assert.deepEqual((result.spec as { ports: unknown[] }).ports, [
      { port: 80, name: 'http' },
      { port: 443, name: 'https', targetPort: 8443 },
    ]);
  });

  it('replaces lists that have no merge key (EndpointSlice endpoints, container args)', () => {
    const slice: KubeObject = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'e' }, endpoints: [{ addresses: ['10.0.0.1'] }] };
    const result = applyStrategicMergePatch(slice, { endpoints: [{ addresses: ['10.0.0.2'] }] }, 'EndpointSlice');
    assert.deepEqual(result.endpoints, [{ addresses: ['10.0.0.2'] }]);
  });

  it('treats unknown kinds (custom resources) as JSON merge patch', () => {
    const cr: KubeObject = { apiVersion: 'x/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { items: [{ name: 'a' }, { name: 'b' }], keep: 1 } };
    const result = applyStrategicMergePatch(cr, { spec: { items: [{ name: 'c' }] } }, 'Widget');
    assert.deepEqual(result.spec, { items: [{ name: 'c' }], keep: 1 });
  });

  it('never mutates its inputs', () => {
    const before = structuredClone(live);
    const patch = { spec: { template: { spec: { containers: [{ name: 'web', image: 'changed' }] } } } };
    const patchBefore = structuredClone(patch);
    applyStrategicMergePatch(live, patch, 'Deployment');
    assert.deepEqual(live, before);
    assert.deepEqual(patch, patchBefore);
  });

  it('rejects a merge-list item without its merge key with BadRequest', () => {
    assert.throws(
      () => applyStrategicMergePatch(live, { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, 'Deployment'),
      (err: unknown) => err instanceof ApiError && err.reason === 'BadRequest' && /merge key: name/.test(err.message),
    );
  });

  it('rejects an unknown $patch directive with BadRequest', () => {
    assert.throws(() => applyStrategicMergePatch(live, { metadata: { labels: { $patch: 'explode' } } }, 'Deployment'), /unknown directive/);
  });
});
