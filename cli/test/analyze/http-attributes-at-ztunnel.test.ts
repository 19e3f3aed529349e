import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/analyze/analyze.ts';
import { ambient, flagged, namespace, only, policy, waypoint } from './fixtures.ts';

const getOnly = { to: [{ operation: { methods: ['GET'] } }] };
const fromFrontend = { from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }] };

describe('analyze AMB0003: HTTP attributes in a policy ztunnel enforces', () => {
  const cases: { name: string; objects: KubeObject[]; want: string[] }[] = [
    { name: 'fires on to.operation.methods without targetRefs', objects: [policy('p', { rules: [getOnly] })], want: ['AuthorizationPolicy shop/p'] },
    {
      name: 'fires on paths in a selector policy',
      objects: [policy('p', { selector: { matchLabels: { app: 'web' } }, rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] })],
      want: ['AuthorizationPolicy shop/p'],
    },
    { name: 'fires on hosts', objects: [policy('p', { rules: [{ to: [{ operation: { hosts: ['a.example'] } }] }] })], want: ['AuthorizationPolicy shop/p'] },
    {
      name: 'fires on a when condition on a request header',
      objects: [policy('p', { rules: [{ when: [{ key: 'request.headers[x-user]', values: ['admin'] }] }] })],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires on from.source.requestPrincipals',
      objects: [policy('p', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] })],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires on a DENY policy too',
      objects: [policy('p', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] })],
      want: ['AuthorizationPolicy shop/p'],
    },
    {
      name: 'fires even when a waypoint exists but the policy is not attached to it',
      objects: [ambient('shop', 'waypoint'), waypoint('waypoint'), policy('p', { rules: [getOnly] })],
      want: ['AuthorizationPolicy shop/p'],
    },
    // Near misses.
    {
      name: 'not with targetRefs to a waypoint',
      objects: [policy('p', { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }], rules: [getOnly] })],
      want: [],
    },
    {
      name: 'not with the older single targetRef',
      objects: [policy('p', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }, rules: [getOnly] })],
      want: [],
    },
    {
      name: 'not for ports, principals and L4 when keys',
      objects: [policy('p', { rules: [{ ...fromFrontend, to: [{ operation: { ports: ['8080'] } }], when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }] }] })],
      want: [],
    },
    { name: 'not for AUDIT (changes no verdict)', objects: [policy('p', { action: 'AUDIT', rules: [getOnly] })], want: [] },
    {
      name: 'not for CUSTOM (never ztunnel-evaluated HTTP)',
      objects: [policy('p', { action: 'CUSTOM', provider: { name: 'ext' }, rules: [getOnly] })],
      want: [],
    },
    {
      name: 'not for empty methods lists',
      objects: [policy('p', { rules: [{ ...fromFrontend, to: [{ operation: { methods: [], ports: ['80'] } }] }] })],
      want: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(flagged('AMB0003', ...c.objects), c.want));

  const effects = [
    {
      name: 'ALLOW whose rules are all HTTP: allows nothing',
      spec: { rules: [getOnly] },
      message:
        'ztunnel enforces this ALLOW policy (it has no targetRefs) but cannot evaluate HTTP attributes in rules[0] (to.operation.methods); ' +
        'ztunnel drops those rules, and with none left the policy allows nothing: every connection to the workloads it selects is denied',
    },
    {
      name: 'ALLOW with an L4 rule left: what the HTTP rules allow is denied',
      spec: { rules: [fromFrontend, { ...getOnly, when: [{ key: 'request.auth.claims[group]', values: ['x'] }] }] },
      message:
        'ztunnel enforces this ALLOW policy (it has no targetRefs) but cannot evaluate HTTP attributes in rules[1] (to.operation.methods, when request.auth.claims[group]); ' +
        'ztunnel drops those rules, so the requests they allow are denied',
    },
    {
      name: 'DENY: applied without its HTTP conditions',
      spec: { action: 'DENY', rules: [{ ...fromFrontend, ...getOnly }] },
      message:
        'ztunnel enforces this DENY policy (it has no targetRefs) but cannot evaluate HTTP attributes in rules[0] (to.operation.methods); ' +
        'ztunnel applies those rules without their HTTP conditions, so they deny every connection their other conditions match',
    },
  ];
  for (const e of effects) it(`says what ztunnel does instead: ${e.name}`, () => assert.equal(only('AMB0003', policy('p', e.spec)).message, e.message));

  it("fixes with targetRefs to the namespace's waypoint when there is one", () => {
    const f = only('AMB0003', ambient('shop', 'waypoint'), waypoint('waypoint'), policy('p', { selector: { matchLabels: { app: 'web' } }, rules: [getOnly] }));
    assert.equal(
      f.fix,
      'enforce it at waypoint shop/waypoint: replace spec.selector with spec.targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}] ' +
        '(or a Service bound to it: {group: "", kind: Service, name: <service>})',
    );
  });

  it('says to deploy and bind a waypoint first when there is none', () => {
    const f = only('AMB0003', namespace('shop'), policy('p', { rules: [getOnly] }));
    assert.match(
      f.fix,
      /^deploy a waypoint and send the namespace's traffic through it \(kubectl ambient waypoint apply -n shop --name waypoint; kubectl label namespace shop istio\.io\/use-waypoint=waypoint --overwrite\), then add spec\.targetRefs/,
    );
  });
});
