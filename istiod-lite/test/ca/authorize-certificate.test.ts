import assert from 'node:assert/strict';
import type { Caller } from '../../src/auth/caller.ts';
import { authorizeCertificate, type CertificateAsk, type CertificatePolicy, type CsrFacts } from '../../src/ca/authorize-certificate.ts';
import type { PodLookup, PodRecord } from '../../src/kube/pod-lookup.ts';

const policy: CertificatePolicy = {
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  ztunnelServiceAccount: 'ztunnel',
  defaultTtlSeconds: 86_400,
  maxTtlSeconds: 90 * 86_400,
};

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';

const pods: PodRecord[] = [
  { namespace: 'istio-system', name: 'ztunnel-a', serviceAccount: 'ztunnel', nodeName: 'node-1', phase: 'Running' },
  { namespace: 'istio-system', name: 'ztunnel-b', serviceAccount: 'ztunnel', nodeName: 'node-2', phase: 'Running' },
  { namespace: 'shop', name: 'web-1', serviceAccount: 'web', nodeName: 'node-2', phase: 'Running' },
  { namespace: 'shop', name: 'batch-1', serviceAccount: 'batch', nodeName: 'node-1', phase: 'Succeeded' },
  { namespace: 'shop', name: 'starting-1', serviceAccount: 'starting', nodeName: 'node-1', phase: 'Pending' },
];
const lookup: PodLookup = {
  podsOnNode: (node) => pods.filter((p) => p.nodeName === node),
  podByName: (ns, name) => pods.find((p) => p.namespace === ns && p.name === name),
};

const ztunnel = (node: string, pod: string): Caller => ({
  username: 'system:serviceaccount:istio-system:ztunnel',
  namespace: 'istio-system',
  serviceAccount: 'ztunnel',
  podName: pod,
  nodeName: node,
});
const web: Caller = { username: 'system:serviceaccount:shop:web', namespace: 'shop', serviceAccount: 'web', podName: 'web-1', nodeName: 'node-2' };
const goodCsr = (uris: string[] = [WEB]): CsrFacts => ({ uris, dnsNames: [], signatureValid: true, keyType: 'ec', namedCurve: 'prime256v1' });

interface Row {
  name: string;
  ask: CertificateAsk;
  want: { allowed: true; spiffeId: string; ttlSeconds: number } | { reason: string; status: string; message?: RegExp };
}

const rows: Row[] = [
  {
    name: 'grants a workload its own identity with the default ttl',
    ask: { caller: web, csr: goodCsr(), impersonatedIdentity: '', ttlSeconds: 0 },
    want: { allowed: true, spiffeId: WEB, ttlSeconds: 86_400 },
  },
  {
    name: 'grants a requested ttl up to the maximum',
    ask: { caller: web, csr: goodCsr(), impersonatedIdentity: '', ttlSeconds: 90 * 86_400 },
    want: { allowed: true, spiffeId: WEB, ttlSeconds: 90 * 86_400 },
  },
  {
    name: 'rejects a ttl above the maximum',
    ask: { caller: web, csr: goodCsr(), impersonatedIdentity: '', ttlSeconds: 90 * 86_400 + 1 },
    want: { status: 'invalid-argument', reason: 'bad-ttl', message: /7776001s exceeds the maximum of 7776000s/ },
  },
  {
    name: 'rejects a negative ttl',
    ask: { caller: web, csr: goodCsr(), impersonatedIdentity: '', ttlSeconds: -5 },
    want: { status: 'invalid-argument', reason: 'bad-ttl', message: /got -5/ },
  },
  {
    name: 'rejects a non-numeric ttl',
    ask: { caller: web, csr: goodCsr(), impersonatedIdentity: '', ttlSeconds: Number.NaN },
    want: { status: 'invalid-argument', reason: 'bad-ttl' },
  },
  {
    name: 'denies a workload another identity',
    ask: { caller: web, csr: goodCsr(['spiffe://cluster.local/ns/shop/sa/db']), impersonatedIdentity: '', ttlSeconds: 0 },
    want: {
      status: 'permission-denied',
      reason: 'identity-mismatch',
      message: /shop\/web may not obtain a certificate for spiffe:\/\/cluster.local\/ns\/shop\/sa\/db/,
    },
  },
  {
    name: 'rejects an rsa key',
    ask: { caller: web, csr: { ...goodCsr(), keyType: 'rsa', namedCurve: undefined }, impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-csr', message: /ecdsa p-256, got rsa/ },
  },
  {
    name: 'rejects an ecdsa key on another curve',
    ask: { caller: web, csr: { ...goodCsr(), namedCurve: 'secp384r1' }, impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-csr', message: /got ec secp384r1/ },
  },
  {
    name: 'rejects a csr whose signature does not verify',
    ask: { caller: web, csr: { ...goodCsr(), signatureValid: false }, impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-signature' },
  },
  {
    name: 'rejects two uri sans',
    ask: { caller: web, csr: goodCsr([WEB, 'spiffe://cluster.local/ns/shop/sa/db']), impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-san', message: /exactly one spiffe uri san, got 2/ },
  },
  {
    name: 'rejects a csr without sans',
    ask: { caller: web, csr: goodCsr([]), impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-san', message: /got 0/ },
  },
  {
    name: 'rejects a dns san',
    ask: { caller: web, csr: { ...goodCsr(), dnsNames: ['web.shop.svc'] }, impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-san', message: /web\.shop\.svc/ },
  },
  {
    name: 'rejects another trust domain',
    ask: { caller: web, csr: goodCsr(['spiffe://evil.org/ns/shop/sa/web']), impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-san', message: /spiffe:\/\/evil\.org\/ns\/shop\/sa\/web is not in trust domain cluster\.local/ },
  },
  {
    name: 'rejects a uri that is not a workload spiffe id',
    ask: { caller: web, csr: goodCsr(['spiffe://cluster.local/ns/shop/sa/web/../../ns/istio-system/sa/ztunnel']), impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'invalid-argument', reason: 'bad-san' },
  },
  {
    name: 'grants ztunnel an identity with a pod on its node',
    ask: { caller: ztunnel('node-2', 'ztunnel-b'), csr: goodCsr(), impersonatedIdentity: WEB, ttlSeconds: 0 },
    want: { allowed: true, spiffeId: WEB, ttlSeconds: 86_400 },
  },
  {
    name: 'denies ztunnel an identity whose pods run on another node',
    ask: { caller: ztunnel('node-1', 'ztunnel-a'), csr: goodCsr(), impersonatedIdentity: WEB, ttlSeconds: 0 },
    want: { status: 'permission-denied', reason: 'wrong-node', message: /identity spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web has no pod on node node-1/ },
  },
  {
    name: 'denies ztunnel the identity of a finished pod',
    ask: {
      caller: ztunnel('node-1', 'ztunnel-a'),
      csr: goodCsr(['spiffe://cluster.local/ns/shop/sa/batch']),
      impersonatedIdentity: 'spiffe://cluster.local/ns/shop/sa/batch',
      ttlSeconds: 0,
    },
    want: { status: 'permission-denied', reason: 'wrong-node' },
  },
  {
    name: 'grants ztunnel the identity of a pod still starting (ztunnel enrolls pods before they run)',
    ask: {
      caller: ztunnel('node-1', 'ztunnel-a'),
      csr: goodCsr(['spiffe://cluster.local/ns/shop/sa/starting']),
      impersonatedIdentity: 'spiffe://cluster.local/ns/shop/sa/starting',
      ttlSeconds: 0,
    },
    want: { allowed: true, spiffeId: 'spiffe://cluster.local/ns/shop/sa/starting', ttlSeconds: 86_400 },
  },
  {
    name: 'denies impersonation when the csr asks for another identity',
    ask: {
      caller: ztunnel('node-2', 'ztunnel-b'),
      csr: goodCsr(['spiffe://cluster.local/ns/istio-system/sa/ztunnel']),
      impersonatedIdentity: WEB,
      ttlSeconds: 0,
    },
    want: { status: 'permission-denied', reason: 'identity-mismatch', message: /does not match the csr san/ },
  },
  {
    name: 'denies impersonation by a non-ztunnel service account, even of itself',
    ask: { caller: web, csr: goodCsr(), impersonatedIdentity: WEB, ttlSeconds: 0 },
    want: { status: 'permission-denied', reason: 'impersonation-denied', message: /shop\/web may not impersonate .* only istio-system\/ztunnel may/ },
  },
  // An injected sidecar asks with its pod's projected token (bound to pod web-1, ServiceAccount
  // web): its own identity only, never that of another ServiceAccount, even one on its node.
  {
    name: "denies a sidecar's pod-bound token the identity of another ServiceAccount",
    ask: { caller: web, csr: goodCsr(['spiffe://cluster.local/ns/istio-system/sa/ztunnel']), impersonatedIdentity: '', ttlSeconds: 0 },
    want: { status: 'permission-denied', reason: 'identity-mismatch', message: /shop\/web may not obtain a certificate for .*sa\/ztunnel/ },
  },
  {
    name: "denies a sidecar's pod-bound token impersonating a ServiceAccount with a pod on its node",
    ask: {
      caller: web,
      csr: goodCsr(['spiffe://cluster.local/ns/istio-system/sa/ztunnel']),
      impersonatedIdentity: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
      ttlSeconds: 0,
    },
    want: { status: 'permission-denied', reason: 'impersonation-denied' },
  },
  {
    name: 'denies impersonation by a ztunnel-named account outside the root namespace',
    ask: {
      caller: { ...ztunnel('node-2', 'ztunnel-b'), namespace: 'shop', username: 'system:serviceaccount:shop:ztunnel' },
      csr: goodCsr(),
      impersonatedIdentity: WEB,
      ttlSeconds: 0,
    },
    want: { status: 'permission-denied', reason: 'impersonation-denied' },
  },
  {
    name: 'denies impersonation with a token bound to no pod',
    ask: {
      caller: { username: 'system:serviceaccount:istio-system:ztunnel', namespace: 'istio-system', serviceAccount: 'ztunnel' },
      csr: goodCsr(),
      impersonatedIdentity: WEB,
      ttlSeconds: 0,
    },
    want: { status: 'permission-denied', reason: 'no-node', message: /not bound to a pod/ },
  },
  {
    name: "falls back to the bound pod's node when the token has no node claim",
    ask: { caller: { ...ztunnel('node-2', 'ztunnel-b'), nodeName: undefined } as Caller, csr: goodCsr(), impersonatedIdentity: WEB, ttlSeconds: 0 },
    want: { allowed: true, spiffeId: WEB, ttlSeconds: 86_400 },
  },
  {
    name: "denies when the token's node and the pod's node disagree",
    ask: { caller: ztunnel('node-2', 'ztunnel-a'), csr: goodCsr(), impersonatedIdentity: WEB, ttlSeconds: 0 },
    want: { status: 'permission-denied', reason: 'no-node', message: /names node node-2 but the pod runs on node-1/ },
  },
];

describe('authorizeCertificate', () => {
  for (const row of rows) {
    it(row.name, () => {
      // Undefined optional fields are dropped, as the authenticator never sets them to undefined.
      const caller = Object.fromEntries(Object.entries(row.ask.caller).filter(([, v]) => v !== undefined)) as unknown as Caller;
      const got = authorizeCertificate({ ...row.ask, caller }, lookup, policy);
      if ('allowed' in row.want) {
        assert.deepEqual(got, row.want);
        return;
      }
      assert.equal(got.allowed, false, `expected a denial, got ${JSON.stringify(got)}`);
      if (got.allowed) return;
      assert.equal(got.reason, row.want.reason, got.message);
      assert.equal(got.status, row.want.status);
      if (row.want.message) assert.match(got.message, row.want.message);
    });
  }
});
