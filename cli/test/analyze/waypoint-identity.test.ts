import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { ambient, flagged, namespace, only, pod, policy, service, waypoint } from './fixtures.ts';

const frontend = 'cluster.local/ns/shop/sa/frontend';
const allowFrontend = (spec: any = {}) => policy('allow-frontend', { action: 'ALLOW', rules: [{ from: [{ source: { principals: [frontend] } }] }], ...spec });

// shop sends its service traffic through waypoint shop/waypoint; reviews-1 sits behind it.
const shop = (...extra: KubeObject[]): KubeObject[] => [
  ambient('shop', 'waypoint'),
  waypoint('waypoint'),
  service('reviews'),
  pod('reviews-1', { labels: { app: 'reviews' } }),
  ...extra,
];

describe('analyze AMB0001: ztunnel ALLOW policy that does not admit the waypoint', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    { name: 'fires on a namespace-wide ALLOW naming only the real clients', objects: shop(allowFrontend()), want: ['AuthorizationPolicy shop/allow-frontend'] },
    {
      name: 'fires on a selector policy for pods behind a bound Service',
      objects: shop(allowFrontend({ selector: { matchLabels: { app: 'reviews' } } })),
      want: ['AuthorizationPolicy shop/allow-frontend'],
    },
    {
      name: 'fires when notPrincipals exclude the waypoint',
      objects: shop(policy('not-wp', { rules: [{ from: [{ source: { notPrincipals: ['cluster.local/ns/shop/sa/waypoint'] } }] }] })),
      want: ['AuthorizationPolicy shop/not-wp'],
    },
    {
      name: 'fires on a root-namespace policy whose namespaces exclude the waypoint',
      objects: shop(policy('mesh-allow', { rules: [{ from: [{ source: { namespaces: ['front'] } }] }] }, 'istio-system')),
      want: ['AuthorizationPolicy istio-system/mesh-allow'],
    },
    {
      name: 'fires for a pod bound to its own workload waypoint',
      objects: [
        ambient('shop'),
        waypoint('db-wp', { waypointFor: 'workload' }),
        pod('db-1', { labels: { app: 'db', 'istio.io/use-waypoint': 'db-wp' } }),
        allowFrontend(),
      ],
      want: ['AuthorizationPolicy shop/allow-frontend'],
    },
    {
      name: 'fires from the Services alone when no pods are known yet',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), service('reviews'), allowFrontend()],
      want: ['AuthorizationPolicy shop/allow-frontend'],
    },
    {
      name: 'fires on each ALLOW policy when none of them admits the waypoint',
      objects: shop(allowFrontend(), policy('allow-admin', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/ops/sa/admin'] } }] }] })),
      want: ['AuthorizationPolicy shop/allow-admin', 'AuthorizationPolicy shop/allow-frontend'],
    },
    // Near misses.
    {
      name: 'not when the policy also names the waypoint principal',
      objects: shop(allowFrontend({ rules: [{ from: [{ source: { principals: [frontend, 'cluster.local/ns/shop/sa/waypoint'] } }] }] })),
      want: [],
    },
    {
      name: 'not when a spiffe:// principal with another trust domain names the waypoint',
      objects: shop(allowFrontend({ rules: [{ from: [{ source: { principals: ['spiffe://corp.example/ns/shop/sa/waypoint'] } }] }] })),
      want: [],
    },
    {
      name: 'not when a wildcard principal covers the waypoint',
      objects: shop(allowFrontend({ rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/*'] } }] }] })),
      want: [],
    },
    {
      name: 'not when a root-namespace policy admits the waypoint namespace',
      objects: shop(policy('mesh-allow', { rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] }, 'istio-system')),
      want: [],
    },
    {
      name: 'not when the waypoint namespace is admitted',
      objects: shop(allowFrontend({ rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] })),
      want: [],
    },
    {
      name: 'not when serviceAccounts names the waypoint',
      objects: shop(allowFrontend({ rules: [{ from: [{ source: { serviceAccounts: ['waypoint'] } }] }] })),
      want: [],
    },
    {
      name: 'not when a when condition on source.principal admits it',
      objects: shop(allowFrontend({ rules: [{ when: [{ key: 'source.principal', values: ['cluster.local/ns/shop/sa/waypoint'] }] }] })),
      want: [],
    },
    { name: 'not when a rule has no from (any source)', objects: shop(allowFrontend({ rules: [{ to: [{ operation: { ports: ['9080'] } }] }] })), want: [] },
    {
      name: 'not when the source is judged by IP alone (cannot tell)',
      objects: shop(allowFrontend({ rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }] })),
      want: [],
    },
    {
      name: 'not when another ALLOW policy admits the waypoint',
      objects: shop(allowFrontend(), policy('allow-waypoint', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/waypoint'] } }] }] })),
      want: [],
    },
    {
      name: 'not for a policy the waypoint enforces (targetRefs)',
      objects: shop(allowFrontend({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }] })),
      want: [],
    },
    { name: 'not for a DENY policy', objects: shop(allowFrontend({ action: 'DENY' })), want: [] },
    { name: 'not for an ALLOW policy with no rules (deny-all on purpose)', objects: shop(policy('allow-nothing', {})), want: [] },
    {
      name: 'not when the selector picks pods no waypoint fronts',
      objects: shop(pod('cart-1', { labels: { app: 'cart' } }), allowFrontend({ selector: { matchLabels: { app: 'cart' } } })),
      want: [],
    },
    {
      name: 'not when no waypoint is in the path',
      objects: [ambient('shop'), waypoint('waypoint'), service('reviews'), pod('reviews-1', { labels: { app: 'reviews' } }), allowFrontend()],
      want: [],
    },
    {
      name: 'not when the bound waypoint does not take service traffic (AMB0008 instead)',
      objects: [
        ambient('shop'),
        waypoint('waypoint', { waypointFor: 'workload' }),
        service('reviews', { labels: { 'istio.io/use-waypoint': 'waypoint' } }),
        pod('reviews-1', { labels: { app: 'reviews' } }),
        allowFrontend(),
      ],
      want: [],
    },
    {
      name: 'not when the waypoint does not exist (AMB0002 instead)',
      objects: [ambient('shop', 'waypoint'), service('reviews'), pod('reviews-1', { labels: { app: 'reviews' } }), allowFrontend()],
      want: [],
    },
    {
      name: 'not when the namespace is not in the mesh',
      objects: [
        namespace('shop', { 'istio.io/use-waypoint': 'waypoint' }),
        waypoint('waypoint'),
        service('reviews'),
        pod('reviews-1', { labels: { app: 'reviews' } }),
        allowFrontend(),
      ],
      want: [],
    },
    {
      name: 'not for a pod that opts out of ambient',
      objects: [
        ambient('shop', 'waypoint'),
        waypoint('waypoint'),
        service('reviews'),
        pod('reviews-1', { labels: { app: 'reviews', 'istio.io/dataplane-mode': 'none' } }),
        allowFrontend(),
      ],
      want: [],
    },
    {
      name: 'not for a policy whose only rules are HTTP rules (AMB0003 instead)',
      objects: shop(allowFrontend({ rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })),
      want: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0001', ...c.objects), c.want));

  it("names the waypoint's principal, the workloads and what the policy admits, and fixes with it", () => {
    const f = only('AMB0001', ...shop(allowFrontend()));
    assert.equal(f.severity, 'Error');
    assert.equal(
      f.message,
      "ztunnel enforces this ALLOW policy on pod reviews-1, whose traffic through waypoint shop/waypoint arrives with the waypoint's identity " +
        `cluster.local/ns/shop/sa/waypoint; no rule admits that identity (it admits principals ${frontend}), so every request through the waypoint is denied`,
    );
    assert.match(f.fix, /add "cluster\.local\/ns\/shop\/sa\/waypoint" to spec\.rules\[\]\.from\[\]\.source\.principals/);
    assert.match(f.fix, /add spec\.targetRefs: \[\{group: gateway\.networking\.k8s\.io, kind: Gateway, name: waypoint\}\]/);
  });

  it('names pods of other namespaces with their namespace, and whole namespaces when no pods are known', () => {
    const f = only(
      'AMB0001',
      ...shop(pod('reviews-2', { labels: { app: 'reviews' } })),
      ambient('api', 'waypoint', { 'istio.io/use-waypoint-namespace': 'shop' }),
      service('users', { ns: 'api' }),
      policy('mesh-allow', { rules: [{ from: [{ source: { principals: [frontend] } }] }] }, 'istio-system'),
    );
    assert.match(
      f.message,
      /^ztunnel enforces this ALLOW policy on pods shop\/reviews-1, shop\/reviews-2 and namespace api, whose traffic through waypoint shop\/waypoint/,
    );
    // A mesh-wide policy has no single target to move to: only the principal is suggested.
    assert.equal(
      f.fix,
      'add "cluster.local/ns/shop/sa/waypoint" to spec.rules[].from[].source.principals (kubectl edit authorizationpolicy mesh-allow -n istio-system)',
    );
  });

  it("reads a namespace whose only pods are the waypoint's own from its Services (found on the local cluster)", () => {
    const f = only(
      'AMB0001',
      ambient('locked', 'waypoint'),
      waypoint('waypoint', { ns: 'locked' }),
      pod('waypoint-7d9f-abcde', { ns: 'locked', labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } }),
      service('vault', { ns: 'locked' }),
      policy('only-shop', { action: 'ALLOW', rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] }, 'locked'),
    );
    assert.match(f.message, /^ztunnel enforces this ALLOW policy on namespace locked, whose traffic through waypoint locked\/waypoint/);
  });

  it('for a waypoint in another namespace, fixes with targetRefs to the bound Services', () => {
    const f = only(
      'AMB0001',
      ambient('shop', 'shared', { 'istio.io/use-waypoint-namespace': 'infra' }),
      ambient('infra'),
      waypoint('shared', { ns: 'infra' }),
      service('reviews'),
      pod('reviews-1', { labels: { app: 'reviews' } }),
      allowFrontend({ selector: { matchLabels: { app: 'reviews' } } }),
    );
    assert.match(f.message, /arrives with the waypoint's identity cluster\.local\/ns\/infra\/sa\/shared;/);
    assert.match(f.fix, /replace spec\.selector with spec\.targetRefs: \[\{group: "", kind: Service, name: reviews\}\]/);
  });
});
