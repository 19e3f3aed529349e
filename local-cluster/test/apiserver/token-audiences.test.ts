// TokenRequest and TokenReview audiences over HTTPS, as a real API server treats them: a token
// carries the audiences it was requested for (the API server's own when none), and a review
// authenticates it only for an audience in both the token and spec.audiences (the API server's
// own when none), answering with that intersection in status.audiences.
import assert from 'node:assert/strict';
import { call, startTestServer, type TestServer } from './harness.ts';

const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const SA = '/api/v1/namespaces/default/serviceaccounts/default/token';

describe('ServiceAccount token audiences (embedded API server over https)', function () {
  this.timeout(30_000);
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.cleanup();
  });

  const requestToken = async (audiences?: string[]) => {
    const r = await call(t.server, 'POST', SA, { spec: audiences ? { audiences } : {} });
    assert.equal(r.status, 201, r.text);
    return { token: r.json.status.token as string, specAudiences: r.json.spec.audiences as string[] };
  };
  const aud = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).aud;
  const review = async (token: string, audiences?: string[]) => {
    const r = await call(t.server, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: audiences ? { token, audiences } : { token },
    });
    assert.equal(r.status, 201, r.text);
    return r.json.status as { authenticated?: boolean; audiences?: string[]; error?: string; user?: { username?: string } };
  };

  it("puts the requested audiences in the aud claim, and the API server's own when none are requested", async () => {
    const ca = await requestToken(['istio-ca']);
    assert.deepEqual(aud(ca.token), ['istio-ca']);
    assert.deepEqual(ca.specAudiences, ['istio-ca']);
    const api = await requestToken();
    assert.deepEqual(aud(api.token), [API_AUDIENCE]);
    assert.deepEqual(api.specAudiences, [API_AUDIENCE]);
  });

  it("reviews a token without spec.audiences against the API server's own audience", async () => {
    const ok = await review((await requestToken()).token);
    assert.equal(ok.authenticated, true);
    assert.deepEqual(ok.audiences, [API_AUDIENCE]);
    const refused = await review((await requestToken(['istio-ca'])).token);
    assert.equal(refused.authenticated, undefined);
    assert.equal(refused.audiences, undefined);
    assert.equal(refused.error, `invalid bearer token: token audiences ["istio-ca"] is invalid for the target audiences ["${API_AUDIENCE}"]`);
  });

  it('authenticates a token for any audience of spec.audiences and answers the intersection', async () => {
    const { token } = await requestToken(['istio-ca', 'vault']);
    const ok = await review(token, ['other', 'istio-ca']);
    assert.equal(ok.authenticated, true);
    assert.equal(ok.user?.username, 'system:serviceaccount:default:default');
    assert.deepEqual(ok.audiences, ['istio-ca']);
    assert.deepEqual((await review(token, ['vault', 'istio-ca'])).audiences, ['vault', 'istio-ca']);
  });

  it('refuses a token for none of spec.audiences, naming both sides', async () => {
    const { token } = await requestToken(['istio-ca']);
    const refused = await review(token, ['vault', API_AUDIENCE]);
    assert.equal(refused.authenticated, undefined);
    assert.equal(refused.error, `invalid bearer token: token audiences ["istio-ca"] is invalid for the target audiences ["vault" "${API_AUDIENCE}"]`);
  });

  it("authenticates API calls only with a token for the API server's audience", async () => {
    // Discovery is allowed to every authenticated caller: 200 means authenticated, 401 not.
    const discovery = '/api/v1';
    assert.equal((await call(t.server, 'GET', discovery, undefined, { token: (await requestToken()).token })).status, 200);
    assert.equal((await call(t.server, 'GET', discovery, undefined, { token: (await requestToken(['istio-ca'])).token })).status, 401);
  });
});
