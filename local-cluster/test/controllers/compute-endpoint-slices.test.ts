import assert from 'node:assert/strict';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { computeEndpointSlices } from '../../src/controllers/compute-endpoint-slices.ts';

const svc = (ports: NonNullable<V1Service['spec']>['ports'], selector: Record<string, string> | undefined = { app: 'echo' }): V1Service => ({
  metadata: { name: 'echo', namespace: 'demo', uid: 's-uid' },
  spec: { selector, clusterIP: '10.96.0.10', ports },
});
const pod = (
  name: string,
  ip: string | undefined,
  opts: { ready?: boolean; ns?: string; httpPort?: number; phase?: string; labels?: Record<string, string> } = {},
): V1Pod => ({
  metadata: { name, namespace: opts.ns ?? 'demo', uid: `${name}-uid`, labels: opts.labels ?? { app: 'echo' } },
  spec: { nodeName: 'node1', containers: [{ name: 'c', ports: opts.httpPort ? [{ name: 'http', containerPort: opts.httpPort }] : [] }] },
  status: { podIP: ip, phase: opts.phase ?? 'Running', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});

describe('endpointslice computation', () => {
  it('lists matching pods with an IP, with readiness, node and target', () => {
    const slices = computeEndpointSlices(svc([{ name: 'http', port: 80, targetPort: 8080 }]), [
      pod('a', '10.244.1.2'),
      pod('b', '10.244.2.2', { ready: false }),
      pod('c', undefined),
      pod('d', '10.244.1.9', { ns: 'other' }),
      pod('e', '10.244.1.8', { labels: { app: 'x' } }),
      pod('f', '10.244.1.7', { phase: 'Failed' }),
    ]);
    assert.equal(slices.length, 1);
    const s = slices[0]!;
    assert.match(s.metadata!.name!, /^echo-[a-z0-9]{5}$/);
    assert.deepEqual(s.metadata!.labels, { 'kubernetes.io/service-name': 'echo', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.local' });
    assert.equal(s.metadata!.ownerReferences![0]!.uid, 's-uid');
    assert.equal(s.addressType, 'IPv4');
    assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(s.endpoints, [
      {
        addresses: ['10.244.1.2'],
        conditions: { ready: true, serving: true, terminating: false },
        targetRef: { kind: 'Pod', namespace: 'demo', name: 'a', uid: 'a-uid' },
        nodeName: 'node1',
      },
      {
        addresses: ['10.244.2.2'],
        conditions: { ready: false, serving: false, terminating: false },
        targetRef: { kind: 'Pod', namespace: 'demo', name: 'b', uid: 'b-uid' },
        nodeName: 'node1',
      },
    ]);
  });

  it('defaults targetPort to port', () => {
    const [s] = computeEndpointSlices(svc([{ port: 80 }]), [pod('a', '10.244.1.2')]);
    assert.deepEqual(s!.ports, [{ name: '', port: 80, protocol: 'TCP' }]);
  });

  it('resolves a named targetPort per pod and groups pods that agree', () => {
    const slices = computeEndpointSlices(svc([{ name: 'web', port: 80, targetPort: 'http' }]), [
      pod('a', '10.244.1.2', { httpPort: 8080 }),
      pod('b', '10.244.1.3', { httpPort: 8080 }),
      pod('c', '10.244.1.4', { httpPort: 9090 }),
      pod('d', '10.244.1.5'),
    ]);
    assert.equal(slices.length, 2);
    const byPort = new Map(slices.map((s) => [s.ports![0]!.port, (s.endpoints ?? []).map((e) => e.targetRef!.name)]));
    assert.deepEqual(byPort.get(8080), ['a', 'b']);
    assert.deepEqual(byPort.get(9090), ['c']);
    assert.notEqual(slices[0]!.metadata!.name, slices[1]!.metadata!.name);
  });

  it('keeps slice names stable as endpoints change', () => {
    const s = svc([{ port: 80 }]);
    const one = computeEndpointSlices(s, [pod('a', '10.244.1.2')])[0]!.metadata!.name;
    const two = computeEndpointSlices(s, [pod('a', '10.244.1.2'), pod('b', '10.244.1.3')])[0]!.metadata!.name;
    assert.equal(one, two);
  });

  it('writes an empty slice when nothing matches, and none for a Service without selector', () => {
    const [empty] = computeEndpointSlices(svc([{ port: 80 }]), []);
    assert.deepEqual(empty!.endpoints, []);
    const noSelector = svc([{ port: 80 }]);
    delete noSelector.spec!.selector;
    assert.deepEqual(computeEndpointSlices(noSelector, [pod('a', '10.244.1.2')]), []);
  });
});
