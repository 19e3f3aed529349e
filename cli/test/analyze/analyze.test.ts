import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze, codes } from '../../src/analyze/analyze.ts';
import { ambient, cluster, httpRoute, namespace, pod, policy, service, waypoint } from './fixtures.ts';

describe('analyze', () => {
  it('finds nothing in a healthy ambient namespace with a waypoint, its own pod and Service, routes and policies', () => {
    const wpLabels = { 'gateway.networking.k8s.io/gateway-name': 'waypoint' };
    const objects = cluster(
      ambient('shop', 'waypoint'),
      waypoint('waypoint'),
      service('waypoint', { labels: wpLabels, selector: wpLabels }),
      pod('waypoint-7d9f', { labels: wpLabels }),
      service('reviews'),
      service('reviews-v2', { selector: { app: 'reviews', version: 'v2' } }),
      pod('reviews-1', { labels: { app: 'reviews', version: 'v2' } }),
      policy('allow-frontend', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend', 'cluster.local/ns/shop/sa/waypoint'] } }] }] }),
      policy('reviews-get', {
        targetRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
        rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }], to: [{ operation: { methods: ['GET'] } }] }],
      }),
      httpRoute('reviews', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }], rules: [{ backendRefs: [{ name: 'reviews-v2', port: 9080 }] }] }),
    );
    assert.deepEqual(analyze(objects), []);
  });

  it('sorts by namespace (cluster-scoped first), kind, name, then code', () => {
    const found = analyze(
      cluster(
        namespace('shop', { 'istio.io/use-waypoint': 'gone' }),
        ambient('api', 'missing'),
        service('b', { labels: { 'istio.io/use-waypoint': 'x' } }),
        service('a', { labels: { 'istio.io/use-waypoint': 'x' } }),
        httpRoute('r', { parentRefs: [{ name: 'nope' }] }, 'api'),
        policy('p', { rules: [{ to: [{ operation: { paths: ['/'] } }] }] }, 'api'),
      ),
    );
    assert.deepEqual(
      found.map((f) => `${f.object.namespace ?? '-'} ${f.object.kind} ${f.object.name} ${f.code}`),
      [
        '- Namespace api AMB0002',
        '- Namespace shop AMB0002',
        '- Namespace shop AMB0007',
        'api AuthorizationPolicy p AMB0003',
        'api HTTPRoute r AMB0005',
        'shop Service a AMB0002',
        'shop Service a AMB0007',
        'shop Service b AMB0002',
        'shop Service b AMB0007',
      ],
    );
  });

  it('reports each finding with the severity its code declares, and the code table has no duplicates', () => {
    const declared = Object.values(codes);
    assert.equal(new Set(declared.map((c) => c.code)).size, declared.length);
    const found = analyze(cluster(namespace('shop', { 'istio.io/use-waypoint': 'gone' })));
    for (const f of found) assert.equal(f.severity, declared.find((c) => c.code === f.code)!.severity);
  });

  it('survives malformed objects: missing lists, junk items, wrong field types', () => {
    const junk: any = {
      namespaces: [null, 'x', { metadata: null }, { metadata: { name: 'shop', labels: { 'istio.io/use-waypoint': 7, 'istio.io/dataplane-mode': 'ambient' } } }],
      services: 'not a list',
      pods: [{ metadata: { name: 'p', namespace: 'shop', labels: null }, spec: 'x' }],
      gateways: [{ metadata: { name: 'g', namespace: 'shop' }, spec: { gatewayClassName: 'istio-waypoint' } }],
      httpRoutes: [{ metadata: { name: 'r', namespace: 'shop' }, spec: { parentRefs: 'x', rules: [null, { backendRefs: [null, { name: 5 }] }] } }],
      authorizationPolicies: [
        { metadata: { name: 'a', namespace: 'shop' }, spec: { rules: { not: 'a list' }, selector: 'x' } },
        { metadata: { name: 'b', namespace: 'shop' }, spec: { rules: [null, { from: [null, { source: null }], to: 'x', when: [{ key: 3 }] }] } },
        { metadata: { name: 'c', namespace: 'shop' }, spec: { targetRefs: [null, { kind: 'Service' }] } },
        { metadata: { name: 'd', namespace: 'shop' }, spec: { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] } },
      ],
    };
    // Only the well-formed HTTP-in-ztunnel policy is reported; nothing throws.
    assert.deepEqual(
      analyze(junk).map((f) => `${f.code} ${f.object.name}`),
      ['AMB0003 d'],
    );
  });

  it('README.md lists every code with its severity, and no code that does not exist', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../src/analyze/README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `(AMB\d{4})` \| (Error|Warning|Info) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(
      rows,
      Object.values(codes).map((c) => `${c.code} ${c.severity}`),
    );
  });
});
