import assert from 'node:assert/strict';
import { UnauthenticatedError } from '../../src/auth/caller.ts';
import { FlagError } from '@ambient/api';
import { TokenReviewAuthenticator, callerFromReview, defaultTokenAudiences, parseTokenAudiences } from '../../src/auth/token-review-authenticator.ts';
import { createNamespace, createRunningPod, createServiceAccount, requestToken, startCaCluster, type CaCluster } from '../ca/ca-fixture.ts';

const isUnauthenticated =
  (message: RegExp) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof UnauthenticatedError, `expected UnauthenticatedError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  };

describe('TokenReviewAuthenticator (embedded API server)', function () {
  this.timeout(30_000);
  let cluster: CaCluster;

  before(async () => {
    cluster = await startCaCluster();
    await createNamespace(cluster.core, 'istio-system');
    await createServiceAccount(cluster.core, 'istio-system', 'ztunnel');
    await createRunningPod(cluster.core, { namespace: 'istio-system', name: 'ztunnel-a', serviceAccount: 'ztunnel', node: 'node-1' });
  });
  after(async () => {
    await cluster?.close();
  });

  it('resolves a pod-bound token to its service account, pod and node', async () => {
    const token = await requestToken(cluster.core, 'istio-system', 'ztunnel', 'ztunnel-a');
    const caller = await new TokenReviewAuthenticator(cluster.kc).authenticate(token);
    const pod = await cluster.core.readNamespacedPod({ namespace: 'istio-system', name: 'ztunnel-a' });
    assert.deepEqual(caller, {
      username: 'system:serviceaccount:istio-system:ztunnel',
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      podName: 'ztunnel-a',
      podUid: pod.metadata!.uid,
      nodeName: 'node-1',
    });
  });

  it('rejects garbage and missing tokens with the reason', async () => {
    const auth = new TokenReviewAuthenticator(cluster.kc);
    await assert.rejects(auth.authenticate('garbage'), isUnauthenticated(/token rejected: invalid bearer token/));
    await assert.rejects(auth.authenticate(''), isUnauthenticated(/missing bearer token/));
  });

  it('rejects a token for another audience, naming the audiences it accepts', async () => {
    const token = await requestToken(cluster.core, 'istio-system', 'ztunnel', 'ztunnel-a');
    await assert.rejects(
      new TokenReviewAuthenticator(cluster.kc, { audiences: ['istio-ca'] }).authenticate(token),
      isUnauthenticated(
        /token audiences \["https:\/\/kubernetes\.default\.svc\.cluster\.local"\] is invalid for the target audiences \["istio-ca"\].*--token-audiences/,
      ),
    );
  });

  it('accepts a token projected for one of its audiences (regression: TokenReview sent no spec.audiences)', async () => {
    const tr = await cluster.core.createNamespacedServiceAccountToken({
      name: 'ztunnel',
      namespace: 'istio-system',
      body: { spec: { audiences: ['istio-ca'], expirationSeconds: 43200, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'ztunnel-a' } } },
    });
    const caller = await new TokenReviewAuthenticator(cluster.kc, { audiences: ['vault', 'istio-ca'] }).authenticate(tr.status!.token!);
    assert.equal(caller.nodeName, 'node-1');
  });

  it('reuses a positive review for the cache ttl only', async () => {
    await createRunningPod(cluster.core, { namespace: 'istio-system', name: 'ztunnel-b', serviceAccount: 'ztunnel', node: 'node-2' });
    const token = await requestToken(cluster.core, 'istio-system', 'ztunnel', 'ztunnel-b');
    let now = Date.now();
    const auth = new TokenReviewAuthenticator(cluster.kc, { cacheTtlMs: 10_000, now: () => now });
    assert.equal((await auth.authenticate(token)).nodeName, 'node-2');
    await cluster.core.deleteNamespacedPod({ namespace: 'istio-system', name: 'ztunnel-b', gracePeriodSeconds: 0 });
    assert.equal((await auth.authenticate(token)).podName, 'ztunnel-b', 'served from the cache within its ttl');
    now += 10_001;
    await assert.rejects(auth.authenticate(token), isUnauthenticated(/pod istio-system\/ztunnel-b has been deleted/));
  });
});

describe('callerFromReview', () => {
  it('refuses an authenticated user that is not a service account', () => {
    assert.throws(
      () => callerFromReview({ spec: { token: 't' }, status: { authenticated: true, user: { username: 'admin' } } }),
      isUnauthenticated(/"admin" is not a service account/),
    );
    assert.throws(
      () => callerFromReview({ spec: { token: 't' }, status: { authenticated: true, user: { username: 'system:serviceaccount:a:b:c' } } }),
      isUnauthenticated(/not a service account/),
    );
  });

  it("passes on the server's reason for an unauthenticated token", () => {
    assert.throws(
      () => callerFromReview({ spec: { token: 't' }, status: { authenticated: false, error: 'token has expired' } }),
      isUnauthenticated(/token rejected: token has expired/),
    );
  });

  const authenticatedFor = (audiences?: string[]) => ({
    spec: { token: 't', audiences: ['istio-ca'] },
    status: { authenticated: true, user: { username: 'system:serviceaccount:istio-system:ztunnel' }, ...(audiences ? { audiences } : {}) },
  });

  it('accepts a review whose status.audiences includes one it asked for', () => {
    assert.equal(callerFromReview(authenticatedFor(['istio-ca']), ['vault', 'istio-ca']).serviceAccount, 'ztunnel');
  });

  it('refuses a review that confirms none of the audiences it asked for (an API server that ignores spec.audiences)', () => {
    assert.throws(
      () => callerFromReview(authenticatedFor(['vault']), ['istio-ca']),
      isUnauthenticated(/not for audience \["istio-ca"\].*confirmed \["vault"\]/),
    );
    assert.throws(() => callerFromReview(authenticatedFor(), ['istio-ca']), isUnauthenticated(/not for audience \["istio-ca"\].*confirmed \[\]/));
  });

  it('ignores ambiguous multi-valued pod and node extras', () => {
    const caller = callerFromReview({
      spec: { token: 't' },
      status: { authenticated: true, user: { username: 'system:serviceaccount:ns:sa', extra: { 'authentication.kubernetes.io/node-name': ['a', 'b'] } } },
    });
    assert.deepEqual(caller, { username: 'system:serviceaccount:ns:sa', namespace: 'ns', serviceAccount: 'sa' });
  });
});

describe('--token-audiences', () => {
  it("defaults to Istio's istio-ca and takes a comma-separated list", () => {
    assert.deepEqual(parseTokenAudiences('token-audiences', defaultTokenAudiences.join(',')), ['istio-ca']);
    assert.deepEqual(parseTokenAudiences('token-audiences', ' istio-ca, vault ,'), ['istio-ca', 'vault']);
  });

  it('refuses an empty list (it would fall back to the API server audience)', () => {
    assert.throws(
      () => parseTokenAudiences('token-audiences', ' , '),
      (e: unknown) => e instanceof FlagError && /--token-audiences needs at least one audience/.test(e.message),
    );
  });
});
