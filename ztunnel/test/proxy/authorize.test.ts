import assert from 'node:assert/strict';
import type { Authorization, Match } from '@ambient/api';
import { authorize, recheck } from '../../src/proxy/authorize.ts';
import type { ConnectionAttributes, Decision } from '../../src/proxy/authorize.ts';
import type { ProxyState } from '@ambient/api/proxy-runtime';
import { typeUrls } from '@ambient/api';
import { id, loadState, wireWorkload } from '@ambient/api/testing';

const { address: addressTypeUrl, authorization: authorizationTypeUrl } = typeUrls;

const CLIENT = id('shop', 'client');
const STRICT = 'istio-system/istio_converted_static_strict';

function policy(name: string, action: 'ALLOW' | 'DENY', matches: Match[] | null, extra: Partial<Authorization> = {}): Authorization {
  // null: a policy without rules; [] would be a rule with one empty clause.
  return { name, namespace: 'shop', scope: 'NAMESPACE', action, rules: matches === null ? [] : [{ clauses: [{ matches }] }], ...extra };
}

const strictPolicy: Authorization = {
  name: 'istio_converted_static_strict',
  namespace: 'istio-system',
  scope: 'WORKLOAD_SELECTOR',
  action: 'DENY',
  rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: true }] }] }] }],
};

function stateWith(policies: Authorization[], workloadPolicies: string[] = []): ProxyState {
  return loadState([wireWorkload({ uid: 'b', ip: '10.244.2.2', sa: 'server', policies: workloadPolicies })], policies as unknown as Record<string, unknown>[]);
}

function conn(state: ProxyState, over: Partial<ConnectionAttributes> = {}): ConnectionAttributes {
  return {
    sourceIdentity: CLIENT,
    sourceIp: '10.244.1.2',
    destinationWorkload: state.workloadByUid('b')!,
    destinationIp: '10.244.2.2',
    destinationPort: 8080,
    ...over,
  };
}

function decide(policies: Authorization[], over: Partial<ConnectionAttributes> = {}, workloadPolicies: string[] = []): Decision {
  const state = stateWith(policies, workloadPolicies);
  return authorize(state, conn(state, over));
}

const allowOnly =
  (m: Match) =>
  (over: Partial<ConnectionAttributes> = {}): boolean =>
    decide([policy('allow', 'ALLOW', [m])], over).allow;

describe('authorize', () => {
  it('allows when no policy applies', () => {
    assert.deepEqual(decide([]), { allow: true, reason: 'no allow policies apply' });
  });

  describe('each match field, as the one field of an ALLOW', () => {
    const plaintext = { sourceIdentity: undefined } as Partial<ConnectionAttributes>;
    const table: [string, Match, Partial<ConnectionAttributes>, boolean][] = [
      ['principals exact', { principals: [{ exact: 'cluster.local/ns/shop/sa/client' }] }, {}, true],
      ['principals exact, other caller', { principals: [{ exact: 'cluster.local/ns/shop/sa/client' }] }, { sourceIdentity: id('shop', 'other') }, false],
      ['principals never match with the spiffe:// prefix', { principals: [{ exact: CLIENT }] }, {}, false],
      ['principals prefix', { principals: [{ prefix: 'cluster.local/ns/shop/' }] }, {}, true],
      ['principals suffix', { principals: [{ suffix: '/sa/client' }] }, {}, true],
      ['principals suffix, other', { principals: [{ suffix: '/sa/admin' }] }, {}, false],
      ['principals OR within the field', { principals: [{ exact: 'x' }, { suffix: '/sa/client' }] }, {}, true],
      ['principals presence', { principals: [{ presence: true }] }, {}, true],
      ['principals presence, plaintext', { principals: [{ presence: true }] }, plaintext, false],
      ['notPrincipals', { notPrincipals: [{ exact: 'cluster.local/ns/shop/sa/client' }] }, {}, false],
      ['notPrincipals, other caller', { notPrincipals: [{ exact: 'cluster.local/ns/shop/sa/client' }] }, { sourceIdentity: id('shop', 'other') }, true],
      ['notPrincipals presence, plaintext', { notPrincipals: [{ presence: true }] }, plaintext, true],
      ['namespaces (from the peer identity)', { namespaces: [{ exact: 'shop' }] }, {}, true],
      ['namespaces, other namespace', { namespaces: [{ exact: 'shop' }] }, { sourceIdentity: id('web', 'client') }, false],
      ['namespaces, plaintext has none', { namespaces: [{ prefix: '' }] }, plaintext, false],
      ['notNamespaces', { notNamespaces: [{ exact: 'web' }] }, { sourceIdentity: id('web', 'client') }, false],
      ['notNamespaces, plaintext', { notNamespaces: [{ exact: 'web' }] }, plaintext, true],
      ['sourceIps cidr', { sourceIps: [{ address: '10.244.1.0', length: 24 }] }, {}, true],
      ['sourceIps cidr, outside', { sourceIps: [{ address: '10.244.3.0', length: 24 }] }, {}, false],
      ['sourceIps v4-mapped peer', { sourceIps: [{ address: '10.244.1.2', length: 32 }] }, { sourceIp: '::ffff:10.244.1.2' }, true],
      ['notSourceIps', { notSourceIps: [{ address: '10.244.1.2', length: 32 }] }, {}, false],
      ['destinationIps', { destinationIps: [{ address: '10.244.2.2', length: 32 }] }, {}, true],
      ['destinationIps, other', { destinationIps: [{ address: '10.244.2.3', length: 32 }] }, {}, false],
      ['notDestinationIps', { notDestinationIps: [{ address: '10.244.0.0', length: 16 }] }, {}, false],
      ['destinationPorts', { destinationPorts: [80, 8080] }, {}, true],
      ['destinationPorts, other', { destinationPorts: [80] }, {}, false],
      ['notDestinationPorts', { notDestinationPorts: [8080] }, {}, false],
      ['notDestinationPorts, other', { notDestinationPorts: [80] }, {}, true],
      ['fields AND: principal ok, port not', { principals: [{ presence: true }], destinationPorts: [80] }, {}, false],
      ['fields AND: both ok', { principals: [{ presence: true }], destinationPorts: [8080] }, {}, true],
      ['an empty match matches everything', {}, plaintext, true],
    ];
    for (const [what, m, over, expected] of table) {
      it(`${what} → ${expected ? 'allow' : 'deny'}`, () => assert.equal(allowOnly(m)(over), expected));
    }
  });

  describe('rules and clauses', () => {
    const portClause = { matches: [{ destinationPorts: [8080] }] };
    const principalClause = { matches: [{ principals: [{ exact: 'cluster.local/ns/web/sa/x' }] }, { namespaces: [{ exact: 'shop' }] }] };
    const allowWith = (rules: Authorization['rules']): boolean => decide([{ name: 'p', namespace: 'shop', scope: 'NAMESPACE', action: 'ALLOW', rules }]).allow;

    it('an ALLOW without rules admits nothing', () => assert.equal(allowWith([]), false));
    it('a rule without clauses matches everything', () => assert.equal(allowWith([{ clauses: [] }]), true));
    it('a clause without matches matches nothing', () => assert.equal(allowWith([{ clauses: [{ matches: [] }] }]), false));
    it('a rule ANDs its clauses (both hold)', () => assert.equal(allowWith([{ clauses: [portClause, principalClause] }]), true));
    it('a rule ANDs its clauses (one fails)', () => assert.equal(allowWith([{ clauses: [{ matches: [{ destinationPorts: [1] }] }, principalClause] }]), false));
    it('a policy ORs its rules', () => assert.equal(allowWith([{ clauses: [{ matches: [{ destinationPorts: [1] }] }] }, { clauses: [portClause] }]), true));
    it('a DENY without rules denies nothing', () => assert.equal(decide([policy('d', 'DENY', null)]).allow, true));
  });

  describe('evaluation order', () => {
    it('any matching DENY denies, even when an ALLOW matches, and names the policy', () => {
      assert.deepEqual(decide([policy('allow-all', 'ALLOW', [{}]), policy('deny-client', 'DENY', [{ principals: [{ suffix: '/sa/client' }] }])]), {
        allow: false,
        policy: 'shop/deny-client',
        reason: 'denied by policy shop/deny-client',
      });
    });

    it('a DENY that does not match leaves the decision to the ALLOWs (none here: allow)', () => {
      assert.equal(decide([policy('deny-other', 'DENY', [{ principals: [{ suffix: '/sa/other' }] }])]).allow, true);
    });

    it('with ALLOW policies, one must match', () => {
      const policies = [
        policy('allow-web', 'ALLOW', [{ namespaces: [{ exact: 'web' }] }]),
        policy('allow-admin', 'ALLOW', [{ principals: [{ suffix: '/sa/admin' }] }]),
      ];
      assert.deepEqual(decide(policies), { allow: false, reason: 'no allow policy matched (shop/allow-web, shop/allow-admin)' });
      assert.deepEqual(decide(policies, { sourceIdentity: id('shop', 'admin') }), {
        allow: true,
        policy: 'shop/allow-admin',
        reason: 'allowed by policy shop/allow-admin',
      });
    });
  });

  describe('scopes', () => {
    const denyAll = (name: string, namespace: string, scope: Authorization['scope']): Authorization => ({ ...policy(name, 'DENY', [{}]), namespace, scope });

    it('a GLOBAL policy applies to every workload', () => {
      assert.equal(decide([denyAll('mesh', 'istio-system', 'GLOBAL')]).allow, false);
    });
    it('a NAMESPACE policy applies only in its namespace', () => {
      assert.equal(decide([denyAll('ns', 'shop', 'NAMESPACE')]).allow, false);
      assert.equal(decide([denyAll('ns', 'other', 'NAMESPACE')]).allow, true);
    });
    it('a WORKLOAD_SELECTOR policy applies only to workloads that list it', () => {
      assert.equal(decide([denyAll('sel', 'shop', 'WORKLOAD_SELECTOR')]).allow, true);
      assert.equal(decide([denyAll('sel', 'shop', 'WORKLOAD_SELECTOR')], {}, ['shop/sel']).allow, false);
    });
    it('fails closed while a listed policy has not been received', () => {
      assert.deepEqual(decide([], {}, ['shop/late']), { allow: false, policy: 'shop/late', reason: 'policy shop/late applies but has not been received' });
    });
  });

  describe('STRICT PeerAuthentication (the static strict DENY)', () => {
    it('denies a plaintext connection', () => {
      assert.deepEqual(decide([strictPolicy], { sourceIdentity: undefined }, [STRICT]), { allow: false, policy: STRICT, reason: `denied by policy ${STRICT}` });
    });
    it('admits an mTLS connection', () => {
      assert.equal(decide([strictPolicy], {}, [STRICT]).allow, true);
    });
    it('PERMISSIVE (the policy not listed) admits plaintext', () => {
      assert.equal(decide([strictPolicy], { sourceIdentity: undefined }).allow, true);
    });
  });
});

describe('recheck', () => {
  it('returns the live connections a new DENY now refuses, and only those', () => {
    const state = stateWith([]);
    const live = [conn(state), conn(state, { sourceIdentity: id('shop', 'other'), sourceIp: '10.244.1.3' })];
    assert.deepEqual(recheck(state, live), []);
    const deny = policy('deny-client', 'DENY', [{ principals: [{ suffix: '/sa/client' }] }]);
    state.apply(authorizationTypeUrl, { upserts: new Map([['shop/deny-client', deny]]), removals: [] });
    const denied = recheck(state, live);
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.connection, live[0]);
    assert.equal(denied[0]!.decision.policy, 'shop/deny-client');
  });

  it('reads the workload afresh, so turning on STRICT for it closes its plaintext connections', () => {
    const state = stateWith([strictPolicy]);
    const live = [conn(state, { sourceIdentity: undefined }), conn(state)];
    assert.deepEqual(recheck(state, live), []);
    state.apply(addressTypeUrl, { upserts: new Map([['b', wireWorkload({ uid: 'b', ip: '10.244.2.2', sa: 'server', policies: [STRICT] })]]), removals: [] });
    assert.deepEqual(
      recheck(state, live).map((d) => d.connection),
      [live[0]],
    );
  });
});
