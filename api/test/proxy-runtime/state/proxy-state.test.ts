import assert from 'node:assert/strict';
import { InvalidResourceError } from '../../../src/proxy-runtime/state/invalid-resource-error.ts';
import { ProxyState } from '../../../src/proxy-runtime/state/proxy-state.ts';
import { typeUrls } from '../../../src/index.ts';
import { gateway, id, loadState, serviceKey, wireService, wireWorkload } from '../../../src/testing/state-fixtures.ts';

const { address: addressTypeUrl, authorization: authorizationTypeUrl } = typeUrls;

const policy = (name: string, namespace: string, scope?: string, action?: string): Record<string, unknown> => {
  const p: Record<string, unknown> = { name, namespace, rules: [{}] };
  if (scope) p.scope = scope;
  if (action) p.action = action;
  return p;
};

describe('ProxyState', () => {
  describe('apply', () => {
    it('indexes workloads by uid, ip and node, filling proto3 defaults', () => {
      const state = loadState([
        wireWorkload({ uid: 'a', ip: '10.244.1.2', node: 'node-1' }),
        wireWorkload({ uid: 'p', ip: '10.244.2.9', node: 'node-2', hbone: false }),
      ]);
      const a = state.workloadByUid('a')!;
      assert.equal(state.workloadByIp('10.244.1.2'), a);
      assert.equal(a.tunnelProtocol, 'HBONE');
      assert.equal(a.status, 'HEALTHY');
      assert.deepEqual(a.authorizationPolicies, []);
      assert.equal(state.workloadByIp('10.244.2.9')!.tunnelProtocol, 'NONE');
      assert.deepEqual(
        state.workloadsOnNode('node-2').map((w) => w.uid),
        ['p'],
      );
      assert.equal(state.workloadByIp('10.244.9.9'), undefined);
    });

    it('finds a workload by an ipv4-mapped ipv6 address, as a dual-stack socket reports it', () => {
      const state = loadState([wireWorkload({ uid: 'a', ip: '10.244.1.2' })]);
      assert.equal(state.workloadByIp('::ffff:10.244.1.2')?.uid, 'a');
    });

    it('indexes ipv6 addresses canonically', () => {
      const state = loadState([wireWorkload({ uid: 'a', ip: 'FD00:0:0::0002' })]);
      assert.equal(state.workloadByIp('fd00::2')?.uid, 'a');
    });

    it('indexes services by vip (and port), key and hostname, resolving target port 0 to the service port', () => {
      const state = loadState([
        wireService({
          name: 'server',
          vip: '10.96.0.10',
          ports: [
            [80, 8080],
            [81, 0],
          ],
        }),
      ]);
      const svc = state.serviceByHostname(serviceKey('server'))!;
      assert.equal(state.serviceByHostname('server.shop.svc.cluster.local'), svc);
      assert.equal(state.serviceByVip('10.96.0.10'), svc);
      assert.equal(state.serviceByVip('10.96.0.10', 80), svc);
      assert.equal(state.serviceByVip('10.96.0.10', 443), undefined);
      assert.deepEqual(
        svc.ports!.map((p) => p.targetPort),
        [8080, 81],
      );
    });

    it('applies the valid part of a batch and reports each malformed resource with its name', () => {
      const state = new ProxyState();
      const upserts = new Map<string, unknown>([
        ['a', wireWorkload({ uid: 'a', ip: '10.244.1.2' })],
        ['bad-ip', wireWorkload({ uid: 'bad-ip', ip: '10.244.1.300' })],
        ['mismatch', wireWorkload({ uid: 'other', ip: '10.244.1.3' })],
        ['both', { ...wireWorkload({ uid: 'both' }), ...wireService({ name: 's', vip: '10.96.0.1', ports: [[80, 80]] }) }],
      ]);
      const result = state.apply(addressTypeUrl, { upserts, removals: [] });
      assert.deepEqual(result.applied, ['a']);
      assert.deepEqual(
        result.rejected.map((r) => r.name),
        ['bad-ip', 'mismatch', 'both'],
      );
      for (const { error } of result.rejected) {
        assert.ok(error instanceof InvalidResourceError);
        assert.equal(error.code, 'ERR_INVALID_RESOURCE');
      }
      assert.match(result.rejected[0]!.error.message, /invalid address "bad-ip": workload\.addresses\[0\] "10\.244\.1\.300" is not an ip address/);
      assert.match(result.rejected[1]!.error.message, /uid "other" does not match the resource name/);
      assert.match(result.rejected[2]!.error.message, /exactly one of workload and service/);
      assert.equal(state.workloadByIp('10.244.1.3'), undefined);
    });

    it('keeps the previous version of a resource whose update is malformed', () => {
      const state = loadState([wireWorkload({ uid: 'a', ip: '10.244.1.2' })]);
      const bad = wireWorkload({ uid: 'a', ip: '10.244.1.2' });
      bad.workload.identity = 'spiffe://cluster.local/not-a-workload';
      const result = state.apply(addressTypeUrl, { upserts: new Map([['a', bad]]), removals: [] });
      assert.equal(result.rejected.length, 1);
      assert.match(result.rejected[0]!.error.message, /identity "spiffe:\/\/cluster\.local\/not-a-workload" is not a workload spiffe id/);
      assert.equal(state.workloadByIp('10.244.1.2')?.identity, id('shop', 'default'));
    });

    it('moves the ip index when a workload changes address, and drops it on removal', () => {
      const state = loadState([wireWorkload({ uid: 'a', ip: '10.244.1.2' })]);
      state.apply(addressTypeUrl, { upserts: new Map([['a', wireWorkload({ uid: 'a', ip: '10.244.1.7' })]]), removals: [] });
      assert.equal(state.workloadByIp('10.244.1.2'), undefined);
      assert.equal(state.workloadByIp('10.244.1.7')?.uid, 'a');
      const result = state.apply(addressTypeUrl, { upserts: new Map(), removals: ['a', 'never-held'] });
      assert.deepEqual(result.removed, ['a']);
      assert.equal(state.workloadByIp('10.244.1.7'), undefined);
      assert.deepEqual(state.workloadsOnNode('node-1'), []);
    });

    it('resolves an ip claimed by two pods (a restart) to the newest, and back when it goes', () => {
      const state = loadState([wireWorkload({ uid: 'old', ip: '10.244.1.2' })]);
      state.apply(addressTypeUrl, { upserts: new Map([['new', wireWorkload({ uid: 'new', ip: '10.244.1.2' })]]), removals: [] });
      assert.equal(state.workloadByIp('10.244.1.2')?.uid, 'new');
      state.apply(addressTypeUrl, { upserts: new Map(), removals: ['new'] });
      assert.equal(state.workloadByIp('10.244.1.2')?.uid, 'old');
    });

    it('removes a service by its key', () => {
      const state = loadState([wireService({ name: 'server', vip: '10.96.0.10', ports: [[80, 8080]] })]);
      state.apply(addressTypeUrl, { upserts: new Map(), removals: [serviceKey('server')] });
      assert.equal(state.serviceByVip('10.96.0.10'), undefined);
      assert.equal(state.serviceByHostname(serviceKey('server')), undefined);
    });

    it('rejects every resource of an unknown type', () => {
      const result = new ProxyState().apply('type.googleapis.com/ambient.waypoint.v1.WaypointConfig', { upserts: new Map([['x', {}]]), removals: [] });
      assert.match(result.rejected[0]!.error.message, /unsupported type url/);
    });
  });

  describe('validate', () => {
    const cases: [string, string, string, unknown, RegExp][] = [
      [
        'a service whose key is not its namespace/hostname',
        addressTypeUrl,
        'shop/wrong',
        wireService({ name: 'server', vip: '10.96.0.10', ports: [[80, 8080]] }),
        /service key "shop\/server\.shop\.svc\.cluster\.local" does not match/,
      ],
      [
        'a service port out of range',
        addressTypeUrl,
        serviceKey('server'),
        wireService({ name: 'server', vip: '10.96.0.10', ports: [[70000, 8080]] }),
        /service\.ports\[0\]\.servicePort 70000 is not a port number/,
      ],
      [
        'an endpoint port map with a non-numeric key',
        addressTypeUrl,
        serviceKey('server'),
        wireService({ name: 'server', vip: '10.96.0.10', ports: [[80, 8080]], endpoints: [{ uid: 'b', ports: { http: 8080 } }] }),
        /ports key "http" is not a port number/,
      ],
      [
        'an unknown tunnel protocol',
        addressTypeUrl,
        'a',
        { workload: { ...wireWorkload({ uid: 'a' }).workload, tunnelProtocol: 'GRE' } },
        /tunnelProtocol "GRE" is not one of NONE, HBONE/,
      ],
      [
        'a waypoint without a spiffe identity',
        addressTypeUrl,
        'a',
        wireWorkload({ uid: 'a', waypoint: { address: '10.96.0.50', identity: 'waypoint' } }),
        /waypoint\.identity "waypoint" is not a workload spiffe id/,
      ],
      ['a payload that is not an object', addressTypeUrl, 'a', 'nope', /address must be an object, got "nope"/],
      ['a policy named differently from its key', authorizationTypeUrl, 'shop/x', policy('y', 'shop'), /key "shop\/y" does not match/],
      ['an unknown action', authorizationTypeUrl, 'shop/x', policy('x', 'shop', 'NAMESPACE', 'AUDIT'), /action "AUDIT" is not one of ALLOW, DENY/],
      [
        'a string match with two kinds',
        authorizationTypeUrl,
        'shop/x',
        { name: 'x', namespace: 'shop', rules: [{ clauses: [{ matches: [{ principals: [{ exact: 'a', prefix: 'b' }] }] }] }] },
        /principals\[0\] must set exactly one/,
      ],
      [
        'a cidr with a bad prefix length',
        authorizationTypeUrl,
        'shop/x',
        { name: 'x', namespace: 'shop', rules: [{ clauses: [{ matches: [{ sourceIps: [{ address: '10.0.0.0', length: 33 }] }] }] }] },
        /sourceIps\[0\]\.length 33 is not a prefix length 0-32/,
      ],
      [
        'a destination port of 0',
        authorizationTypeUrl,
        'shop/x',
        { name: 'x', namespace: 'shop', rules: [{ clauses: [{ matches: [{ destinationPorts: [0] }] }] }] },
        /destinationPorts\[0\] 0 is not a port number/,
      ],
    ];
    for (const [what, typeUrl, name, payload, message] of cases) {
      it(`rejects ${what}`, () => {
        assert.throws(
          () => new ProxyState().validate(typeUrl, name, payload),
          (err: unknown) => {
            assert.ok(err instanceof InvalidResourceError);
            assert.equal(err.resourceName, name);
            assert.match(err.message, message);
            assert.ok(err.cause instanceof Error);
            return true;
          },
        );
      });
    }

    it('accepts what istiod-lite sends, including a gateway with the default port left out', () => {
      const state = new ProxyState();
      const gw = { ...gateway('waypoint', '10.96.0.50') } as Record<string, unknown>;
      delete gw.hboneMtlsPort;
      state.validate(addressTypeUrl, 'a', wireWorkload({ uid: 'a', ip: '10.244.1.2', waypoint: gw }));
      state.apply(addressTypeUrl, { upserts: new Map([['a', wireWorkload({ uid: 'a', ip: '10.244.1.2', waypoint: gw })]]), removals: [] });
      assert.equal(state.workloadByUid('a')!.waypoint!.hboneMtlsPort, 15008);
    });
  });

  describe('policiesFor', () => {
    it('collects global, same-namespace and listed selector policies, nothing else', () => {
      const state = loadState(
        [],
        [
          policy('mesh', 'istio-system', 'GLOBAL'),
          policy('ns-shop', 'shop', 'NAMESPACE'),
          policy('ns-other', 'other', 'NAMESPACE'),
          policy('sel-mine', 'shop', 'WORKLOAD_SELECTOR'),
          policy('sel-other', 'shop', 'WORKLOAD_SELECTOR'),
        ],
      );
      state.apply(addressTypeUrl, { upserts: new Map([['a', wireWorkload({ uid: 'a', policies: ['shop/sel-mine', 'shop/missing'] })]]), removals: [] });
      const a = state.workloadByUid('a')!;
      assert.deepEqual(
        state
          .policiesFor(a)
          .map((p) => `${p.namespace}/${p.name}`)
          .sort(),
        ['istio-system/mesh', 'shop/ns-shop', 'shop/sel-mine'],
      );
      assert.deepEqual(state.unknownPoliciesFor(a), ['shop/missing']);
    });

    it('re-indexes a policy whose scope changes, and forgets a removed one', () => {
      const state = loadState([wireWorkload({ uid: 'a' })], [policy('p', 'shop', 'NAMESPACE')]);
      const a = state.workloadByUid('a')!;
      assert.equal(state.policiesFor(a).length, 1);
      state.apply(authorizationTypeUrl, { upserts: new Map([['shop/p', policy('p', 'shop', 'WORKLOAD_SELECTOR')]]), removals: [] });
      assert.equal(state.policiesFor(a).length, 0);
      state.apply(authorizationTypeUrl, { upserts: new Map([['shop/p', policy('p', 'shop', 'GLOBAL')]]), removals: [] });
      assert.equal(state.policiesFor(a).length, 1);
      assert.deepEqual(state.apply(authorizationTypeUrl, { upserts: new Map(), removals: ['shop/p'] }).removed, ['shop/p']);
      assert.equal(state.policiesFor(a).length, 0);
    });
  });

  it('dumps its contents as plain data', () => {
    const state = loadState([wireWorkload({ uid: 'a' }), wireService({ name: 's', vip: '10.96.0.1', ports: [[80, 80]] })], [policy('p', 'shop')]);
    const dump = JSON.parse(JSON.stringify(state.dump()));
    assert.deepEqual([dump.workloads.length, dump.services.length, dump.policies.length], [1, 1, 1]);
  });
});
