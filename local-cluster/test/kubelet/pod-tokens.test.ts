// The kubelet's ServiceAccount tokens: which ones a pod gets (pure), and the files it writes
// from real TokenRequests to the embedded API server over HTTPS (no root), refreshed on a
// fake clock.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { FakeClock } from '@ambient/api/testing';
import { startApiServer, type ApiServer } from '../../src/apiserver/index.ts';
import { DEFAULT_TOKEN_SECONDS, planPodTokens, PodTokens, projectedTokenFiles, TOKEN_RETRY_MS } from '../../src/kubelet/pod-tokens.ts';

const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
// The token volume of deploy/daemonset/ztunnel.yaml.
const istioToken = {
  name: 'istio-token',
  projected: { sources: [{ serviceAccountToken: { path: 'istio-token', expirationSeconds: 43200, audience: 'istio-ca' } }] },
};

function podWith(spec: Partial<NonNullable<V1Pod['spec']>>, name = 'ztunnel-x'): V1Pod {
  return { metadata: { name, namespace: 'default' }, spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'x' }], ...spec } };
}

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

async function until(what: string, fn: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('planPodTokens', () => {
  it('gives a pod its default token and one per serviceAccountToken source, with its audience and lifetime', () => {
    const plan = planPodTokens(
      podWith({
        volumes: [
          istioToken,
          { name: 'cfg', configMap: { name: 'x' } },
          { name: 'vault', projected: { sources: [{ configMap: { name: 'x' } }, { serviceAccountToken: { path: 'sub/vault-token' } }] } },
        ],
      }),
      '/data/pods/p',
    );
    assert.deepEqual(plan, {
      tokens: [
        { file: '/data/pods/p/token', audiences: [], expirationSeconds: DEFAULT_TOKEN_SECONDS },
        {
          file: '/data/pods/p/volumes/istio-token/istio-token',
          audiences: ['istio-ca'],
          expirationSeconds: 43200,
          source: { volume: 'istio-token', path: 'istio-token' },
        },
        {
          file: '/data/pods/p/volumes/vault/sub/vault-token',
          audiences: [],
          expirationSeconds: DEFAULT_TOKEN_SECONDS,
          source: { volume: 'vault', path: 'sub/vault-token' },
        },
      ],
      invalid: [],
    });
    assert.deepEqual(projectedTokenFiles(plan), [
      { volume: 'istio-token', path: 'istio-token', file: '/data/pods/p/volumes/istio-token/istio-token' },
      { volume: 'vault', path: 'sub/vault-token', file: '/data/pods/p/volumes/vault/sub/vault-token' },
    ]);
  });

  it('still projects explicit token volumes when automountServiceAccountToken is false, as Kubernetes does', () => {
    const plan = planPodTokens(podWith({ automountServiceAccountToken: false, volumes: [istioToken] }), '/data/pods/p');
    assert.deepEqual(
      plan.tokens.map((t) => t.file),
      ['/data/pods/p/volumes/istio-token/istio-token'],
    );
  });

  it('refuses a source whose path or volume name would leave the pod directory', () => {
    const sat = (name: string, path: string) => ({ name, projected: { sources: [{ serviceAccountToken: { path } }] } });
    const plan = planPodTokens(
      podWith({ automountServiceAccountToken: false, volumes: [sat('a', '../../x'), sat('b', '/etc/x'), sat('../c', 'x'), sat('d', 'ok')] }),
      '/p',
    );
    assert.deepEqual(
      plan.tokens.map((t) => t.file),
      ['/p/volumes/d/ok'],
    );
    assert.equal(plan.invalid.length, 3);
    assert.match(plan.invalid[0]!, /volume 'a': serviceAccountToken path '\.\.\/\.\.\/x' must be a relative path without '\.\.'/);
  });
});

describe('PodTokens (embedded API server)', function () {
  this.timeout(30_000);
  let dataDir: string;
  let api: ApiServer;
  let core: CoreV1Api;
  let auth: AuthenticationV1Api;
  const running: PodTokens[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pod-tokens-'));
    api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    auth = kc.makeApiClient(AuthenticationV1Api);
    await core.createNode({ body: { metadata: { name: 'node-1' } } });
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((t) => t.stop()));
  });
  after(async () => {
    await api?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async (pod: V1Pod, clock: FakeClock) => {
    const created = await core.createNamespacedPod({ namespace: 'default', body: pod });
    const dir = join(dataDir, 'pods', created.metadata!.name!);
    const plan = planPodTokens(created, dir);
    const tokens = new PodTokens({ core, pod: created, tokens: plan.tokens, clock: { now: clock.now, ...clock.timers }, logger: pino({ level: 'silent' }) });
    running.push(tokens);
    await tokens.start();
    return { created, plan };
  };

  it('writes the projected token with its audience, bound to the pod and its node, beside the default one', async () => {
    const { created, plan } = await start(podWith({ volumes: [istioToken] }, 'ztunnel-a'), new FakeClock());
    const [defaultToken, projected] = plan.tokens.map((t) => readFileSync(t.file, 'utf8'));
    const c = claims(projected!);
    assert.deepEqual(c.aud, ['istio-ca']);
    assert.equal(c.exp - c.iat, 43200);
    assert.deepEqual(claims(defaultToken!).aud, [API_AUDIENCE], 'the default token keeps the API server audience');
    const review = await auth.createTokenReview({ body: { spec: { token: projected!, audiences: ['istio-ca'] } } });
    assert.equal(review.status?.authenticated, true);
    assert.deepEqual(review.status?.audiences, ['istio-ca']);
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-uid'], [created.metadata!.uid]);
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/node-name'], ['node-1']);
    const forApi = await auth.createTokenReview({ body: { spec: { token: projected! } } });
    assert.equal(forApi.status?.authenticated, undefined, 'an istio-ca token is no API server credential');
  });

  it('refreshes each token at 80 % of its lifetime', async () => {
    const clock = new FakeClock();
    const { plan } = await start(podWith({ volumes: [istioToken] }, 'ztunnel-b'), clock);
    const [defaultFile, projectedFile] = plan.tokens.map((t) => t.file) as [string, string];
    const read = () => [readFileSync(defaultFile, 'utf8'), readFileSync(projectedFile, 'utf8')] as const;
    // One timer at a time: fire it, then wait for the refresh's round trip to schedule the next.
    let elapsed = 0;
    const step = async () => {
      const delay = clock.pendingDelays()[0]!;
      clock.advance(delay);
      elapsed += delay;
      await until('the next refresh scheduled', () => clock.pendingDelays().length > 0);
    };
    const minutes = (ms: number) => Math.round(ms / 60_000);
    let last = read();
    await step();
    assert.equal(minutes(elapsed), 48, 'the 1 h default token at 48 min');
    assert.notEqual(read()[0], last[0]);
    assert.equal(read()[1], last[1], 'the 12 h token is not due yet');
    last = read();
    while (read()[1] === last[1] && elapsed < 24 * 3600_000) await step();
    assert.equal(minutes(elapsed), 576, 'the 12 h token at 9.6 h (576 min)');
    assert.deepEqual(claims(read()[1]).aud, ['istio-ca']);
  });

  it('retries a token the API server refused soon, backing off, not at its next refresh', async () => {
    const clock = new FakeClock();
    const { plan } = await start(podWith({ serviceAccountName: 'late', automountServiceAccountToken: false, volumes: [istioToken] }, 'late-pod'), clock);
    const file = plan.tokens[0]!.file;
    assert.equal(existsSync(file), false, 'no ServiceAccount yet');
    assert.deepEqual(clock.pendingDelays(), [TOKEN_RETRY_MS]);
    clock.advance(TOKEN_RETRY_MS);
    await until('the second retry scheduled', () => clock.pendingDelays().length > 0);
    assert.deepEqual(clock.pendingDelays(), [2 * TOKEN_RETRY_MS], 'backs off');
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'late' } } });
    clock.advance(2 * TOKEN_RETRY_MS);
    await until('the token written on retry', () => existsSync(file));
    assert.deepEqual(claims(readFileSync(file, 'utf8')).aud, ['istio-ca']);
  });
});
