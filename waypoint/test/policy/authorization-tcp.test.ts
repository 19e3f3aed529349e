import assert from 'node:assert/strict';
import type { L7Authorization } from '@ambient/api';
import { authorizeConnection } from '../../src/policy/authorization-tcp.ts';

const src = { identity: 'spiffe://cluster.local/ns/shop/sa/front', namespace: 'shop', ip: '10.244.1.5' };
const svc = { serviceHostname: 'db.shop.svc.cluster.local' };
const policy = (action: 'ALLOW' | 'DENY', matches: object[]): L7Authorization[] => [
  { name: 'p', namespace: 'shop', action, targets: ['gateway'], rules: [{ clauses: [{ matches: matches as never }] }] },
];

describe('L7 policies on relayed TCP connections', () => {
  it('denies when a DENY matches on its L4 fields, ignoring its HTTP-only fields', () => {
    const d = authorizeConnection(policy('DENY', [{ namespaces: [{ exact: 'shop' }], paths: [{ prefix: '/admin' }] }]), svc, 5432, src);
    assert.deepEqual(d, { allowed: false, policy: 'shop/p', action: 'DENY' });
  });

  it('never lets an ALLOW that needs HTTP fields allow a connection', () => {
    const d = authorizeConnection(policy('ALLOW', [{ methods: [{ exact: 'GET' }] }]), svc, 5432, src);
    assert.equal(d.allowed, false);
  });

  it('allows on an ALLOW whose L4 fields match', () => {
    assert.deepEqual(authorizeConnection(policy('ALLOW', [{ principals: [{ exact: 'cluster.local/ns/shop/sa/front' }] }]), svc, 5432, src), { allowed: true });
  });

  it('lets a DENY on other sources pass', () => {
    assert.deepEqual(authorizeConnection(policy('DENY', [{ namespaces: [{ exact: 'other' }] }]), svc, 5432, src), { allowed: true });
  });
});
