import assert from 'node:assert/strict';
import { compileL4Policy } from '../../src/model/authorization-policy.ts';
import { buildMeshModel } from '../../src/model/mesh-model.ts';
import { authorizationPolicy, inputs, namespace, opts, pod } from './fixtures.ts';

const compile = (spec: any, ns = 'shop') => compileL4Policy(authorizationPolicy('p', spec, ns), opts);

describe('model: L4 authorization from AuthorizationPolicy', () => {
  describe('scope', () => {
    const cases = [
      { name: 'a root-namespace policy without selector is GLOBAL', ns: 'istio-system', spec: {}, want: 'GLOBAL' },
      { name: 'a policy without selector is NAMESPACE', ns: 'shop', spec: {}, want: 'NAMESPACE' },
      { name: 'a policy with matchLabels is WORKLOAD_SELECTOR', ns: 'shop', spec: { selector: { matchLabels: { app: 'web' } } }, want: 'WORKLOAD_SELECTOR' },
      { name: 'an empty selector is namespace-wide', ns: 'shop', spec: { selector: { matchLabels: {} } }, want: 'NAMESPACE' },
    ];
    for (const c of cases) it(c.name, () => assert.equal(compile(c.spec, c.ns).authorization!.scope, c.want));

    it('lists selector policies on the workloads they select, including root-namespace ones', () => {
      const model = buildMeshModel(
        inputs(
          namespace('shop'),
          pod('web', { uid: 'w', labels: { app: 'web' } }),
          pod('db', { uid: 'd', labels: { app: 'db' } }),
          authorizationPolicy('web-only', { selector: { matchLabels: { app: 'web' } } }),
          authorizationPolicy('everywhere-web', { selector: { matchLabels: { app: 'web' } } }, 'istio-system'),
          authorizationPolicy('other-ns', { selector: { matchLabels: { app: 'web' } } }, 'elsewhere'),
          authorizationPolicy('ns-wide', {}),
        ),
        opts,
      );
      assert.deepEqual(model.workloads.get('w')!.authorizationPolicies, ['istio-system/everywhere-web', 'shop/web-only']);
      assert.deepEqual(model.workloads.get('d')!.authorizationPolicies, []);
      assert.ok(model.authorizations.has('shop/ns-wide'));
    });
  });

  it('compiles sources, operations and L4 conditions into AND of ORs', () => {
    const a = compile({
      action: 'DENY',
      rules: [
        {
          from: [
            { source: { principals: ['cluster.local/ns/a/sa/x', 'spiffe://cluster.local/ns/b/*'], notNamespaces: ['kube-*'] } },
            { source: { ipBlocks: ['10.0.0.0/8', '192.168.1.1'], notIpBlocks: ['10.1.0.0/16'] } },
          ],
          to: [{ operation: { ports: ['8080'], notPorts: ['9090'] } }],
          when: [
            { key: 'source.namespace', values: ['*'], notValues: ['*-test'] },
            { key: 'destination.port', values: ['80'] },
          ],
        },
      ],
    }).authorization!;
    assert.deepEqual(a, {
      name: 'p',
      namespace: 'shop',
      scope: 'NAMESPACE',
      action: 'DENY',
      warnings: [],
      rules: [
        {
          clauses: [
            { matches: [{ destinationPorts: [8080], notDestinationPorts: [9090] }] },
            {
              matches: [
                { principals: [{ exact: 'cluster.local/ns/a/sa/x' }, { prefix: 'cluster.local/ns/b/' }], notNamespaces: [{ prefix: 'kube-' }] },
                {
                  sourceIps: [
                    { address: '10.0.0.0', length: 8 },
                    { address: '192.168.1.1', length: 32 },
                  ],
                  notSourceIps: [{ address: '10.1.0.0', length: 16 }],
                },
              ],
            },
            { matches: [{ namespaces: [{ presence: true }], notNamespaces: [{ suffix: '-test' }] }] },
            { matches: [{ destinationPorts: [80] }] },
          ],
        },
      ],
    });
  });

  it('turns serviceAccounts into principals in the trust domain', () => {
    const a = compile({ rules: [{ from: [{ source: { serviceAccounts: ['cart', 'pay/api'] } }] }] }).authorization!;
    assert.deepEqual(a.rules![0]!.clauses![0]!.matches, [
      { principals: [{ exact: 'cluster.local/ns/shop/sa/cart' }, { exact: 'cluster.local/ns/pay/sa/api' }] },
    ]);
  });

  describe('empty rules', () => {
    it('an ALLOW policy without rules matches nothing (denies all selected workloads)', () => {
      assert.deepEqual(compile({ action: 'ALLOW' }).authorization!.rules, []);
    });
    it('a rule {} matches everything (no clauses)', () => {
      assert.deepEqual(compile({ action: 'ALLOW', rules: [{}] }).authorization!.rules, [{ clauses: [] }]);
    });
  });

  describe('HTTP attributes in a ztunnel policy narrow it, never widen it', () => {
    const allowMsg =
      'ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';
    const denyMsg =
      'ztunnel does not support HTTP attributes (found: methods, paths, request.headers[x-user], requestPrincipals). In ambient mode you must use a waypoint proxy to enforce HTTP rules. DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';

    it('ALLOW: drops the rule that uses an HTTP attribute and keeps the others', () => {
      const r = compile({
        action: 'ALLOW',
        rules: [{ to: [{ operation: { methods: ['GET'], ports: ['80'] } }] }, { from: [{ source: { namespaces: ['front'] } }] }],
      });
      assert.deepEqual(r.authorization!.rules, [{ clauses: [{ matches: [{ namespaces: [{ exact: 'front' }] }] }] }]);
      assert.deepEqual(r.authorization!.warnings, [allowMsg]);
      assert.deepEqual(r.status!.conditions, [
        { type: 'ZtunnelAccepted', status: 'True', reason: 'UnsupportedValue', message: allowMsg, observedGeneration: 2 },
      ]);
    });

    it('ALLOW with only HTTP rules allows nothing', () => {
      assert.deepEqual(compile({ action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }).authorization!.rules, []);
    });

    it('DENY: removes the HTTP parts so the rule matches more, and an HTTP-only clause matches everything', () => {
      const r = compile({
        action: 'DENY',
        rules: [
          {
            from: [{ source: { namespaces: ['bad'], requestPrincipals: ['*'] } }],
            to: [{ operation: { methods: ['DELETE'] } }, { operation: { paths: ['/admin'], ports: ['80'] } }],
            when: [{ key: 'request.headers[x-user]', values: ['eve'] }],
          },
        ],
      });
      // "to" had an HTTP-only operation: that clause now matches any connection and is dropped.
      assert.deepEqual(r.authorization!.rules, [{ clauses: [{ matches: [{ namespaces: [{ exact: 'bad' }] }] }] }]);
      assert.deepEqual([r.status!.conditions[0]!.reason, r.status!.conditions[0]!.message], ['UnsupportedValue', denyMsg]);
    });

    it('DENY with only HTTP attributes denies every connection', () => {
      assert.deepEqual(compile({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }).authorization!.rules, [{ clauses: [] }]);
    });
  });

  it('accepts a plain valid policy with reason Accepted', () => {
    const s = compile({ rules: [{ from: [{ source: { namespaces: ['a'] } }] }] }).status!;
    assert.deepEqual(s.conditions[0], { type: 'ZtunnelAccepted', status: 'True', reason: 'Accepted', message: 'attached to ztunnel', observedGeneration: 2 });
  });

  describe('invalid policies fail closed, with a reason (they used to be dropped: a DENY stopped denying, an ALLOW-only workload became allow-all)', () => {
    const denyAll = [{ clauses: [] }];
    const allowNothing: never[] = [];
    const closed = (message: string, action: string): string =>
      `${message}; enforced as ${action === 'DENY' ? 'deny-all' : 'allow-nothing'} for the workloads it selects until fixed`;
    const cases = [
      {
        name: 'bad CIDR in a DENY: denies everything it selects',
        spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] },
        action: 'DENY',
        rules: denyAll,
        message: closed('invalid rules[0].from[0].source.ipBlocks value "10.0.0.0/33": expected an IP address or CIDR', 'DENY'),
      },
      {
        name: 'not an IP in an ALLOW: allows nothing',
        spec: { rules: [{ from: [{ source: { notIpBlocks: ['web'] } }] }] },
        action: 'ALLOW',
        rules: allowNothing,
        message: closed('invalid rules[0].from[0].source.notIpBlocks value "web": expected an IP address or CIDR', 'ALLOW'),
      },
      {
        name: 'bad port',
        spec: { rules: [{ to: [{ operation: { ports: ['http'] } }] }] },
        action: 'ALLOW',
        rules: allowNothing,
        message: closed('invalid rules[0].to[0].operation.ports value "http": expected a port number 1-65535', 'ALLOW'),
      },
      {
        name: 'unknown action: denies everything it selects',
        spec: { action: 'MAYBE' },
        action: 'DENY',
        rules: denyAll,
        message: closed('invalid action "MAYBE": expected ALLOW, DENY, AUDIT or CUSTOM', 'DENY'),
      },
      {
        name: 'empty source',
        spec: { action: 'DENY', rules: [{ from: [{ source: {} }] }] },
        action: 'DENY',
        rules: denyAll,
        message: closed('invalid rules[0].from[0].source: must not be empty', 'DENY'),
      },
      {
        name: 'when without values',
        spec: { rules: [{ when: [{ key: 'source.ip' }] }] },
        action: 'ALLOW',
        rules: allowNothing,
        message: closed('invalid rules[0].when[0]: key "source.ip" needs values or notValues', 'ALLOW'),
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r = compile(c.spec);
        assert.equal(r.authorization?.action, c.action);
        assert.deepEqual(r.authorization?.rules, c.rules);
        assert.deepEqual(r.authorization?.warnings, [c.message]);
        assert.deepEqual(r.status!.conditions[0], { type: 'ZtunnelAccepted', status: 'False', reason: 'Invalid', message: c.message, observedGeneration: 2 });
      });
    }

    it('CUSTOM is enforced as a DENY of what its rules match (ztunnel cannot ask its provider)', () => {
      const r = compile({ action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{ to: [{ operation: { ports: ['8080'] } }] }] });
      assert.equal(r.authorization?.action, 'DENY');
      assert.deepEqual(r.authorization?.rules, [{ clauses: [{ matches: [{ destinationPorts: [8080] }] }] }]);
      assert.deepEqual(r.status!.conditions[0]!.reason, 'UnsupportedValue');
      assert.match(r.status!.conditions[0]!.message, /ztunnel cannot consult the CUSTOM action's provider: enforced as a DENY of what its rules match/);
    });

    it('AUDIT has no effect on traffic, and says so', () => {
      const r = compile({ action: 'AUDIT' });
      assert.equal(r.authorization, undefined);
      assert.deepEqual(r.status!.conditions[0], {
        type: 'ZtunnelAccepted',
        status: 'False',
        reason: 'UnsupportedValue',
        message: 'ztunnel does not support the AUDIT action: it has no effect on traffic',
        observedGeneration: 2,
      });
    });

    it('an invalid policy does not stop the others, and stays in force closed', () => {
      const model = buildMeshModel(
        inputs(authorizationPolicy('bad', { rules: [{ from: [{ source: { ipBlocks: ['nope'] } }] }] }), authorizationPolicy('good', {})),
        opts,
      );
      assert.deepEqual([...model.authorizations.keys()].sort(), ['shop/bad', 'shop/good']);
      assert.deepEqual(model.authorizations.get('shop/bad')!.rules, []);
    });
  });

  it('does not compile targetRefs policies for ztunnel', () => {
    assert.deepEqual(compile({ targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'wp' }] }), {});
    assert.deepEqual(compile({ targetRef: { kind: 'Service', group: '', name: 'web' } }), {});
  });
});
