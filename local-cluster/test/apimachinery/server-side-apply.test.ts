import assert from 'node:assert/strict';
import { ApiError } from '../../src/apimachinery/errors.ts';
import { recordUpdateManager, serverSideApply } from '../../src/apimachinery/server-side-apply.ts';
import type { KubeObject, ManagedFieldsEntry } from '../../src/apimachinery/types.ts';

const t1 = '2025-01-01T00:00:00Z';
const t2 = '2025-01-01T00:01:00Z';

function config(spec: Record<string, unknown>, labels: Record<string, string> = { app: 'web' }): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels }, spec };
}

const apply = (live: KubeObject | undefined, applied: KubeObject, manager: string, force = false, now = t1): KubeObject =>
  serverSideApply(live, applied, { manager, force, kind: 'Deployment', now });

const entry = (o: KubeObject, manager: string): ManagedFieldsEntry | undefined => o.metadata.managedFields?.find((e) => e.manager === manager);

const spec = (o: KubeObject): Record<string, unknown> => o.spec as Record<string, unknown>;

const template = (containers: unknown[]): Record<string, unknown> => ({ metadata: { labels: { app: 'web' } }, spec: { containers } });

describe('serverSideApply', () => {
  it('creates the object and records what the manager applied as FieldsV1', () => {
    const created = apply(undefined, config({ replicas: 2, template: template([{ name: 'web', image: 'nginx' }]) }), 'kubectl');
    assert.equal(spec(created).replicas, 2);
    assert.equal(created.metadata.name, 'web');
    const e = entry(created, 'kubectl')!;
    assert.equal(e.operation, 'Apply');
    assert.equal(e.apiVersion, 'apps/v1');
    assert.equal(e.time, t1);
    assert.equal(e.fieldsType, 'FieldsV1');
    assert.deepEqual(e.fieldsV1, {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
        },
      },
    });
  });

  it('changes a field on re-apply and keeps fields nobody applied (status, server defaults)', () => {
    const created = apply(undefined, config({ replicas: 2 }), 'kubectl');
    const live = { ...created, status: { readyReplicas: 2 }, spec: { ...spec(created), revisionHistoryLimit: 10 } };
    const updated = apply(live, config({ replicas: 3 }), 'kubectl', false, t2);
    assert.equal(spec(updated).replicas, 3);
    assert.equal(spec(updated).revisionHistoryLimit, 10);
    assert.deepEqual(updated.status, { readyReplicas: 2 });
    assert.equal(entry(updated, 'kubectl')!.time, t2);
    assert.equal(updated.metadata.managedFields!.length, 1);
  });

  it('removes fields the manager applied before and omits now', () => {
    const first = apply(
      undefined,
      config(
        {
          replicas: 2,
          paused: false,
          template: template([
            { name: 'web', image: 'a' },
            { name: 'log', image: 'b' },
          ]),
        },
        { app: 'web', tier: 'front' },
      ),
      'kubectl',
    );
    const second = apply(first, config({ replicas: 2, template: template([{ name: 'web', image: 'a' }]) }), 'kubectl', false, t2);
    assert.deepEqual(second.metadata.labels, { app: 'web' });
    assert.equal('paused' in spec(second), false);
    const containers = (spec(second).template as { spec: { containers: { name: string }[] } }).spec.containers;
    assert.deepEqual(
      containers.map((c) => c.name),
      ['web'],
    );
    assert.deepEqual(entry(second, 'kubectl')!.fieldsV1['f:metadata'], { 'f:labels': { 'f:app': {} } });
  });

  it('keeps an omitted field that another manager also owns', () => {
    const first = apply(undefined, config({ replicas: 2 }, { app: 'web', team: 'a' }), 'kubectl');
    const shared = apply(first, { ...config({}, { team: 'a' }), spec: undefined } as unknown as KubeObject, 'labeler');
    const second = apply(shared, config({ replicas: 2 }, { app: 'web' }), 'kubectl', false, t2);
    assert.deepEqual(second.metadata.labels, { app: 'web', team: 'a' });
  });

  it('rejects a change to a field another manager owns with a 409 conflict naming both', () => {
    const first = apply(undefined, config({ replicas: 2 }), 'kubectl');
    assert.throws(
      () => apply(first, config({ replicas: 5 }), 'autoscaler'),
      (err: unknown) =>
        err instanceof ApiError &&
        err.code === 409 &&
        err.reason === 'Conflict' &&
        err.message === 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' &&
        err.details?.causes?.[0]?.field === '.spec.replicas' &&
        err.details.causes[0].reason === 'FieldManagerConflict',
    );
  });

  it('lets two managers share a field they set to the same value', () => {
    const first = apply(undefined, config({ replicas: 2 }), 'kubectl');
    const both = apply(first, config({ replicas: 2 }), 'other');
    assert.ok(entry(both, 'kubectl'));
    assert.ok(entry(both, 'other'));
  });

  it('transfers ownership when forced', () => {
    const first = apply(undefined, config({ replicas: 2, paused: false }), 'kubectl');
    const forced = apply(first, { ...config({ replicas: 5 }), metadata: { name: 'web' } }, 'autoscaler', true, t2);
    assert.equal(spec(forced).replicas, 5);
    assert.deepEqual(entry(forced, 'kubectl')!.fieldsV1['f:spec'], { 'f:paused': {} });
    assert.deepEqual(entry(forced, 'autoscaler')!.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    // kubectl no longer owns replicas: applying without it does not remove it.
    const again = apply(forced, config({ paused: false }), 'kubectl', false, t2);
    assert.equal(spec(again).replicas, 5);
  });

  it('lists several conflicts by manager', () => {
    const first = apply(undefined, config({ replicas: 2, paused: false }), 'kubectl');
    assert.throws(() => apply(first, config({ replicas: 3, paused: true }), 'other'), {
      message: 'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.paused\n- .spec.replicas',
    });
  });

  it('conflicts with an Update manager, naming its API version and time', () => {
    const created = apply(undefined, config({ replicas: 2 }), 'kubectl');
    const edited = recordUpdateManager(created, { ...created, spec: { replicas: 7 } }, { manager: 'kubectl-edit', now: t2 });
    assert.deepEqual(entry(edited, 'kubectl-edit')!.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    assert.equal(entry(edited, 'kubectl-edit')!.operation, 'Update');
    // The edit took replicas away from the applier.
    assert.equal(entry(edited, 'kubectl')!.fieldsV1['f:spec'], undefined);
    assert.throws(() => apply(edited, config({ replicas: 3 }), 'kubectl'), {
      message: `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1 at ${t2}: .spec.replicas`,
    });
  });

  it('merges keyed lists by merge key instead of replacing them', () => {
    const first = apply(undefined, config({ template: template([{ name: 'web', image: 'a' }]) }), 'kubectl');
    const withSidecar = apply(first, { ...config({ template: { spec: { containers: [{ name: 'proxy', image: 'p' }] } } }, {}) }, 'injector');
    const containers = (spec(withSidecar).template as { spec: { containers: { name: string }[] } }).spec.containers;
    assert.deepEqual(
      containers.map((c) => c.name),
      ['web', 'proxy'],
    );
  });

  it('does not mutate the live object', () => {
    const first = apply(undefined, config({ replicas: 2 }), 'kubectl');
    const before = structuredClone(first);
    apply(first, config({ replicas: 4 }), 'kubectl');
    assert.deepEqual(first, before);
  });
});

describe('recordUpdateManager', () => {
  it('gives the creator ownership of every field it set', () => {
    const obj = config({ replicas: 1 });
    const recorded = recordUpdateManager(undefined, obj, { manager: 'kubectl-create', now: t1 });
    const e = entry(recorded, 'kubectl-create')!;
    assert.equal(e.operation, 'Update');
    assert.deepEqual(e.fieldsV1, { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } });
  });

  it('adds no entry for an update that changed nothing', () => {
    const obj = recordUpdateManager(undefined, config({ replicas: 1 }), { manager: 'a', now: t1 });
    const same = recordUpdateManager(obj, obj, { manager: 'b', now: t2 });
    assert.equal(entry(same, 'b'), undefined);
    assert.equal(same.metadata.managedFields!.length, 1);
  });

  it('forgets fields that were removed', () => {
    const obj = recordUpdateManager(undefined, config({ replicas: 1, paused: true }), { manager: 'a', now: t1 });
    const after = recordUpdateManager(obj, { ...obj, spec: { replicas: 1 } }, { manager: 'b', now: t2 });
    assert.deepEqual(entry(after, 'a')!.fieldsV1['f:spec'], { 'f:replicas': {} });
  });
});

describe('serverSideApply on custom resources', () => {
  const schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          listeners: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['name'],
            items: { type: 'object', properties: { name: { type: 'string' }, port: { type: 'integer' } } },
          },
          hosts: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  };
  const gateway = (listeners: unknown[], hosts: string[] = ['a']): KubeObject => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'gw', namespace: 'shop' },
    spec: { listeners, hosts },
  });
  const opts = (manager: string) => ({ manager, force: false, kind: 'Gateway', now: t1, schema });

  it('merges list-type map lists by key and owns items per manager', () => {
    const first = serverSideApply(undefined, gateway([{ name: 'mesh', port: 15008 }]), opts('a'));
    assert.deepEqual(entry(first, 'a')!.fieldsV1['f:spec'], {
      'f:hosts': {},
      'f:listeners': { 'k:{"name":"mesh"}': { '.': {}, 'f:name': {}, 'f:port': {} } },
    });
    const second = serverSideApply(first, { ...gateway([{ name: 'http', port: 80 }]), spec: { listeners: [{ name: 'http', port: 80 }] } }, opts('b'));
    assert.deepEqual(
      (second.spec as { listeners: { name: string }[] }).listeners.map((l) => l.name),
      ['mesh', 'http'],
    );
  });

  it('replaces atomic lists and conflicts on them like any other field', () => {
    const first = serverSideApply(undefined, gateway([], ['a', 'b']), opts('a'));
    assert.throws(() => serverSideApply(first, gateway([], ['c']), opts('b')), /conflict with "a": \.spec\.hosts/);
    const same = serverSideApply(first, gateway([], ['a']), opts('a'));
    assert.deepEqual((same.spec as { hosts: string[] }).hosts, ['a']);
  });
});
