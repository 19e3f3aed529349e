import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { renderView, viewRows } from '../../src/commands/ztunnel-config.ts';
import type { NodeDump } from '../../src/ztunnel-dump.ts';

const cert = (notBefore: string, notAfter: string, serial: string) => ({ subject: '', uris: [], serial, notBefore, notAfter });
const dumps: NodeDump[] = [
  {
    node: 'node-1',
    pod: {} as V1Pod,
    dump: {
      workloads: [
        {
          uid: 'u1',
          name: 'front',
          namespace: 'shop',
          node: 'node-1',
          addresses: ['10.244.1.2'],
          tunnelProtocol: 'HBONE',
          identity: 'spiffe://cluster.local/ns/shop/sa/front',
        },
        { uid: 'u2', name: 'db', namespace: 'data', node: 'node-1', addresses: ['10.244.1.3'], waypoint: { hostname: 'waypoint.data.svc.cluster.local' } },
      ],
      services: [
        { name: 'cart', namespace: 'shop', hostname: 'cart.shop.svc.cluster.local', addresses: ['10.96.1.0'], endpoints: [{ ready: true }, { ready: false }] },
      ],
      policies: [],
      certificates: [
        {
          identity: 'spiffe://cluster.local/ns/shop/sa/front',
          state: 'available',
          chain: [
            cert('2026-12-03T00:00:00Z', '2026-12-03T06:00:00Z', 'AB'),
            cert('2026-01-01T00:00:00Z', '2036-01-01T00:00:00Z', 'CD'),
            cert('2026-01-01T00:00:00Z', '2036-01-01T00:00:00Z', 'EF'),
          ],
        },
      ],
      captured: [{ uid: 'u1', ip: '10.244.1.2', identity: '', connections: { outbound: 3, hbone: 1, plaintext: 0 } }],
    },
  },
  { node: 'node-2', pod: {} as V1Pod, failure: 'no answer within 5000 ms' },
];
const now = new Date('2026-12-03T12:00:00Z');

describe('kubectl ambient ztunnel views', () => {
  it('lists workloads of one namespace or all, with their waypoint', () => {
    assert.deepEqual(
      viewRows('workloads', dumps, 'shop', now).map((r) => r.name),
      ['front'],
    );
    const all = renderView('workloads', viewRows('workloads', dumps, undefined, now), 'table');
    assert.match(all, /^node-1\s+data\s+db\s+10\.244\.1\.3\s+node-1\s+waypoint\.data\.svc\.cluster\.local\s+-\s+-$/m);
  });

  it('counts ready endpoints of a service', () => {
    assert.equal(viewRows('services', dumps, undefined, now)[0]!.endpoints, '1/2');
  });

  it('shows each certificate of a chain, leaf first, and an expired leaf as not valid', () => {
    const rows = viewRows('certificates', dumps, 'other-namespace', now);
    assert.deepEqual(
      rows.map((r) => [r.type, r.valid, r.serial]),
      [
        ['Leaf', 'false', 'ab'],
        ['Intermediate', 'true', 'cd'],
        ['Root', 'true', 'ef'],
      ],
    );
  });

  it('names the workload behind each captured pod with its connection counts', () => {
    assert.deepEqual(viewRows('connections', dumps, undefined, now), [
      { node: 'node-1', namespace: 'shop', workload: 'front', address: '10.244.1.2', outbound: 3, hbone: 1, plaintext: 0 },
    ]);
  });
});
