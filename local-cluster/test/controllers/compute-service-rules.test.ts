import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { computeServiceRules, serviceHostsEntries } from '../../src/controllers/compute-service-rules.ts';

const svc = (name: string, ns: string, clusterIP: string, ports: { name?: string; port: number; protocol?: string }[]): V1Service => ({
  metadata: { name, namespace: ns },
  spec: { clusterIP, ports },
});
const slice = (svcName: string, ns: string, ports: { name: string; port: number }[], eps: [string, boolean][]): V1EndpointSlice => ({
  metadata: { name: `${svcName}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
  endpoints: eps.map(([ip, ready]) => ({ addresses: [ip], conditions: { ready } })),
});

describe('service rules and hosts entries', () => {
  it('maps each service port to the ready endpoints of its slices, matched by port name', () => {
    const rules = computeServiceRules(
      [
        svc('echo', 'demo', '10.96.0.10', [
          { name: 'http', port: 80 },
          { name: 'admin', port: 9000 },
        ]),
      ],
      [
        slice(
          'echo',
          'demo',
          [
            { name: 'http', port: 8080 },
            { name: 'admin', port: 9090 },
          ],
          [
            ['10.244.2.2', true],
            ['10.244.1.2', true],
            ['10.244.1.3', false],
          ],
        ),
        slice('echo', 'other', [{ name: 'http', port: 1 }], [['10.244.9.9', true]]),
      ],
    );
    assert.deepEqual(rules, [
      {
        clusterIp: '10.96.0.10',
        port: 80,
        protocol: 'TCP',
        endpoints: [
          { ip: '10.244.1.2', port: 8080 },
          { ip: '10.244.2.2', port: 8080 },
        ],
      },
      {
        clusterIp: '10.96.0.10',
        port: 9000,
        protocol: 'TCP',
        endpoints: [
          { ip: '10.244.1.2', port: 9090 },
          { ip: '10.244.2.2', port: 9090 },
        ],
      },
    ]);
  });

  it('keeps a rule with no endpoints for a service without ready backends, and none for headless', () => {
    const rules = computeServiceRules([svc('a', 'demo', '10.96.0.11', [{ port: 80 }]), svc('h', 'demo', 'None', [{ port: 80 }])], []);
    assert.deepEqual(rules, [{ clusterIp: '10.96.0.11', port: 80, protocol: 'TCP', endpoints: [] }]);
  });

  it('names every service fully and same-namespace services also by short name', () => {
    const services = [svc('echo', 'demo', '10.96.0.10', [{ port: 80 }]), svc('db', 'data', '10.96.0.20', [{ port: 5432 }]), svc('h', 'demo', 'None', [])];
    assert.deepEqual(serviceHostsEntries('demo', services), [
      { ip: '10.96.0.20', names: ['db.data.svc.cluster.local', 'db.data.svc', 'db.data'] },
      { ip: '10.96.0.10', names: ['echo.demo.svc.cluster.local', 'echo.demo.svc', 'echo.demo', 'echo'] },
    ]);
  });
});
