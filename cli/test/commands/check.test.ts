import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { type Facts, formatResults, REQUIRED_CRDS, runChecks } from '../../src/commands/check.ts';
import { paletteFor } from '../../src/output.ts';
import type { NodeDump, ZtunnelDump } from '../../src/ztunnel-dump.ts';

const now = new Date('2026-12-03T12:00:00Z');
const pod = (name: string, node: string, uid = name): V1Pod => ({ metadata: { name, namespace: 'shop', uid }, spec: { nodeName: node, containers: [] } });
const dump = (captured: string[], notAfter = '2026-12-04T12:00:00Z'): ZtunnelDump => ({
  workloads: [],
  services: [],
  policies: [],
  certificates: [
    {
      identity: 'spiffe://cluster.local/ns/shop/sa/default',
      state: 'available',
      chain: [{ subject: '', uris: [], serial: '01', notBefore: '2026-12-03T00:00:00Z', notAfter }],
    },
  ],
  captured: captured.map((uid) => ({ uid, ip: '10.244.1.2', identity: '', connections: { outbound: 0, hbone: 0, plaintext: 0 } })),
});
const ztunnel = (node: string, d?: ZtunnelDump, failure?: string): NodeDump => ({
  node,
  pod: pod(`ztunnel-${node}`, node),
  ...(d ? { dump: d } : {}),
  ...(failure ? { failure } : {}),
});

function healthy(): Facts {
  return {
    now,
    crds: [...REQUIRED_CRDS],
    lease: { holder: 'istiod-1', renewTime: '2026-12-03T11:59:58Z', durationSeconds: 15 },
    nodes: ['node-1', 'node-2'],
    ztunnels: [ztunnel('node-1', dump(['a'])), ztunnel('node-2', dump(['b']))],
    readiness: new Map([
      ['node-1', ''],
      ['node-2', ''],
    ]),
    cniAgents: new Map([
      ['node-1', { pod: 'istio-cni-node-a', notReady: '' }],
      ['node-2', { pod: 'istio-cni-node-b', notReady: '' }],
    ]),
    enrolled: [{ namespace: 'shop', pods: [pod('a', 'node-1'), pod('b', 'node-2')] }],
    hbone: [{ from: 'node-1', to: 'node-2', address: '10.244.2.2:15008' }],
  };
}
const failed = (f: Facts) => runChecks(f).filter((r) => !r.ok);

describe('kubectl ambient check', () => {
  it('passes a healthy mesh, one line per fact', () => {
    const results = runChecks(healthy());
    assert.deepEqual(failed(healthy()), []);
    const text = formatResults(results, paletteFor({ isTTY: false }));
    assert.match(text, /^✔ istiod-lite holds the leader lease \(status, waypoints, webhook\) — istiod-1, renewed 2 s ago$/m);
    assert.match(text, /^✔ ztunnels' workload certificates are valid — 2 valid; the earliest expires in 24h/m);
    assert.match(text, /^✔ the CNI node agent on node node-2 is ready \(it hands each new pod to ztunnel\)$/m);
    assert.match(text, /^all 9 checks passed$/m);
  });

  const cases: [string, (f: Facts) => void, RegExp][] = [
    ['a missing CRD', (f) => f.crds.splice(0, 1), /the mesh CRDs are installed.*missing: gatewayclasses/],
    ['a lease nobody renewed for 40 s', (f) => (f.lease!.renewTime = '2026-12-03T11:59:20Z'), /istiod-1 last renewed 40 s ago \(lease 15 s\)/],
    ['no leader lease', (f) => delete f.lease, /no holder in lease istio-system\/istiod-lite-leader/],
    // (its pods would fail the capture check too: none here)
    [
      'a node without ztunnel',
      (f) => {
        f.ztunnels.pop();
        f.enrolled[0]!.pods.pop();
      },
      /ztunnel runs on node node-2.*no ztunnel pod/,
    ],
    ['a node without its CNI agent', (f) => f.cniAgents.delete('node-2'), /CNI node agent on node node-2 .*no istio-cni-node pod.*stay Pending/],
    [
      'a CNI agent not ready',
      (f) => f.cniAgents.set('node-1', { pod: 'istio-cni-node-a', notReady: 'not ready: the plugin is not in a primary CNI config yet' }),
      /CNI node agent on node node-1 .*primary CNI config.*logs istio-cni-node-a/,
    ],
    ['a ztunnel not ready', (f) => f.readiness.set('node-2', 'not ready: discovery pending'), /ztunnel on node node-2 .*not ready: discovery pending/],
    ['an expired certificate', (f) => (f.ztunnels[1]!.dump = dump(['b'], '2026-12-03T11:00:00Z')), /1 of 2 not valid/],
    ['a certificate 30 min from expiry', (f) => (f.ztunnels[1]!.dump = dump(['b'], '2026-12-03T12:30:00Z')), /the earliest expires in 30m/],
    [
      'HBONE blocked',
      (f) => (f.hbone[0]!.failure = 'connect timed out after 3000 ms'),
      /15008 is reachable from node-1 to node-2.*connect timed out[\s\S]*NetworkPolicy or firewall/,
    ],
    ['an enrolled pod not captured', (f) => f.enrolled[0]!.pods.push(pod('c', 'node-1')), /2 of 3; not captured: c \(node-1\)/],
  ];
  for (const [what, breakIt, message] of cases) {
    it(`fails on ${what}, saying why`, () => {
      const f = healthy();
      breakIt(f);
      const bad = failed(f);
      assert.equal(bad.length, 1, JSON.stringify(bad));
      assert.match(`${bad[0]!.title} ${bad[0]!.detail} ${bad[0]!.hint ?? ''}`, message);
    });
  }

  it('counts pods on a node whose ztunnel did not answer as unknown, not as uncaptured', () => {
    const f = healthy();
    f.ztunnels[1] = ztunnel('node-2', undefined, 'no answer within 5000 ms');
    const capture = runChecks(f).find((r) => r.title.startsWith('namespace shop'))!;
    assert.equal(capture.ok, false);
    assert.equal(capture.detail, '1 of 2; unknown, their ztunnel did not answer: b (node-2)');
  });
});
