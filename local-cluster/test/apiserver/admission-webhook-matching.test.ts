// The pure decisions of admission webhooks: which webhooks a request calls, in what order, what
// a configuration defaults to, and how an answer is read, as tables against kube's behaviour.
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import { type AdmissionAttributes, denial, readVerdict, ruleMatches, webhookApplies } from '../../src/apiserver/admission-webhooks.ts';
import { defaultWebhookConfiguration, webhookConfigurationCauses, webhooksOf, type WebhookRule } from '../../src/apiserver/webhook-configuration.ts';

const attrs = (over: Partial<AdmissionAttributes> = {}): AdmissionAttributes => ({
  operation: 'CREATE',
  resource: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  subresource: '',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  namespace: 'shop',
  name: 'web',
  user: { username: 'admin', uid: '', groups: [] },
  dryRun: false,
  options: {},
  builtin: true,
  ...over,
});
const rule = (over: Partial<WebhookRule> = {}): WebhookRule => ({
  operations: ['CREATE'],
  apiGroups: [''],
  apiVersions: ['v1'],
  resources: ['pods'],
  scope: '*',
  ...over,
});
const NAMESPACES = { group: '', version: 'v1', plural: 'namespaces', namespaced: false };
const NODES = { group: '', version: 'v1', plural: 'nodes', namespaced: false };

describe('webhook rules (kube rules.Matcher)', () => {
  const cases: [string, Partial<WebhookRule>, Partial<AdmissionAttributes>, boolean][] = [
    ['the named operation, group, version and resource', {}, {}, true],
    ['another operation', {}, { operation: 'UPDATE' }, false],
    ['operation *', { operations: ['*'] }, { operation: 'DELETE' }, true],
    ['another group', { apiGroups: ['apps'] }, {}, false],
    ['group and version *', { apiGroups: ['*'], apiVersions: ['*'] }, {}, true],
    ['resource * on the main resource', { resources: ['*'] }, {}, true],
    ['pods does not match pods/status', {}, { subresource: 'status', operation: 'CREATE' }, false],
    ['* does not match a subresource', { resources: ['*'] }, { subresource: 'status' }, false],
    ['pods/status matches pods/status', { resources: ['pods/status'] }, { subresource: 'status' }, true],
    ['pods/status does not match pods', { resources: ['pods/status'] }, {}, false],
    ['*/* matches any subresource', { resources: ['*/*'] }, { subresource: 'status' }, true],
    ['pods/* matches pods/status', { resources: ['pods/*'] }, { subresource: 'status' }, true],
    ['scope Namespaced: a namespaced object', { scope: 'Namespaced' }, {}, true],
    ['scope Cluster: not a namespaced object', { scope: 'Cluster' }, {}, false],
    ['scope Cluster: a Node', { scope: 'Cluster', resources: ['*'] }, { resource: NODES, namespace: '' }, true],
    // A Namespace's request carries its own name as namespace, yet it is cluster-scoped.
    ['scope Cluster: a Namespace', { scope: 'Cluster', resources: ['namespaces'] }, { resource: NAMESPACES, namespace: 'shop' }, true],
    ['scope Namespaced: not a Namespace', { scope: 'Namespaced', resources: ['namespaces'] }, { resource: NAMESPACES, namespace: 'shop' }, false],
  ];
  for (const [name, r, a, want] of cases) {
    it(`${want ? 'matches' : 'does not match'}: ${name}`, () => assert.equal(ruleMatches(rule(r), attrs(a)), want));
  }
});

describe('webhook selectors', () => {
  const [hook] = webhooksOf([
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'c' },
      webhooks: [
        {
          name: 'w.example.com',
          clientConfig: { url: 'https://127.0.0.1/' },
          rules: [rule({ operations: ['CREATE', 'UPDATE'] })],
          namespaceSelector: { matchLabels: { inject: 'on' } },
          objectSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
        },
      ],
    },
  ]);
  const pod = (labels?: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels } });

  it('calls the webhook when the namespace and the object match', () => {
    assert.equal(webhookApplies(hook!, attrs(), pod({ app: 'web' }), undefined, { inject: 'on' }), true);
  });
  it('skips it for a namespace the namespaceSelector does not select', () => {
    assert.equal(webhookApplies(hook!, attrs(), pod({ app: 'web' }), undefined, {}), false);
  });
  it('skips it for an object the objectSelector does not select', () => {
    assert.equal(webhookApplies(hook!, attrs(), pod({}), undefined, { inject: 'on' }), false);
  });
  it('calls it for an update when only the old object matches the objectSelector', () => {
    assert.equal(webhookApplies(hook!, attrs({ operation: 'UPDATE' }), pod({}), pod({ app: 'web' }), { inject: 'on' }), true);
  });
  it('never exempts a cluster-scoped object (other than a Namespace) by namespaceSelector', () => {
    const nodeRule = { ...hook!, rules: [rule({ resources: ['nodes'] })] };
    assert.equal(webhookApplies(nodeRule, attrs({ resource: NODES, namespace: '' }), pod({ app: 'n' }), undefined, undefined), true);
  });
});

describe('webhook configurations', () => {
  const config = (kind: string, name: string, webhooks: Record<string, unknown>[]): KubeObject => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind,
    metadata: { name },
    webhooks,
  });

  it('default as v1 does: Fail, Equivalent, 10 s, Never, scope *, empty selectors, service port 443', () => {
    const c = config('MutatingWebhookConfiguration', 'c', [
      { name: 'a.b.c', clientConfig: { service: { namespace: 'n', name: 's' } }, rules: [rule({ scope: undefined })] },
    ]);
    defaultWebhookConfiguration(c);
    const [w] = c.webhooks as Record<string, any>[];
    assert.deepEqual(
      [
        w!.failurePolicy,
        w!.matchPolicy,
        w!.timeoutSeconds,
        w!.reinvocationPolicy,
        w!.rules[0].scope,
        w!.namespaceSelector,
        w!.objectSelector,
        w!.clientConfig.service.port,
      ],
      ['Fail', 'Equivalent', 10, 'Never', '*', {}, {}, 443],
    );
    const v = config('ValidatingWebhookConfiguration', 'v', [{ name: 'a.b.c' }]);
    defaultWebhookConfiguration(v);
    assert.equal((v.webhooks as Record<string, unknown>[])[0]!.reinvocationPolicy, undefined);
  });

  it('are called configurations by name, each one’s webhooks in listed order', () => {
    const hooks = webhooksOf([
      config('MutatingWebhookConfiguration', 'zz', [{ name: 'z1.example.com' }]),
      config('MutatingWebhookConfiguration', 'aa', [{ name: 'a2.example.com' }, { name: 'a1.example.com' }]),
    ]);
    assert.deepEqual(
      hooks.map((h) => h.name),
      ['a2.example.com', 'a1.example.com', 'z1.example.com'],
    );
  });

  it('refuse a webhook name without three segments, a duplicate name, a rule without resources and CEL matchConditions', () => {
    const base = { clientConfig: { url: 'https://x.example.com/' }, sideEffects: 'None', admissionReviewVersions: ['v1'] };
    const causes = webhookConfigurationCauses(
      config('ValidatingWebhookConfiguration', 'v', [
        { ...base, name: 'two.segments' },
        { ...base, name: 'a.b.c', rules: [{ operations: ['CREATE', '*'], apiGroups: [''], apiVersions: ['v1'] }] },
        { ...base, name: 'a.b.c', matchConditions: [{ name: 'x', expression: 'true' }] },
      ]),
    );
    assert.deepEqual(
      causes.map((c) => c.field),
      ['webhooks[0].name', 'webhooks[1].rules[0].operations', 'webhooks[1].rules[0].resources', 'webhooks[2].name', 'webhooks[2].matchConditions'],
    );
  });
});

describe('webhook answers (kube VerifyAdmissionResponse, ToStatusErr)', () => {
  const review = (response: unknown) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
  const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/x', value: 1 }])).toString('base64');

  it('reads an allowed answer with a JSON patch and warnings', () => {
    assert.deepEqual(readVerdict(review({ uid: 'u', allowed: true, patchType: 'JSONPatch', patch, warnings: ['w'] }), 'u', true), {
      allowed: true,
      patch: [{ op: 'add', path: '/x', value: 1 }],
      status: undefined,
      warnings: ['w'],
    });
  });

  const invalid: [string, unknown, boolean, string][] = [
    ['no response', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, true, 'webhook response was absent'],
    ['another uid', review({ uid: 'v', allowed: true }), true, 'expected response.uid="u", got "v"'],
    [
      'another kind',
      { kind: 'Status', apiVersion: 'v1', response: { uid: 'u' } },
      true,
      'expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got v1, Kind=Status',
    ],
    ['a patch without patchType', review({ uid: 'u', allowed: true, patch }), true, 'webhook returned response.patch but not response.patchType'],
    [
      'a patch from a validating webhook',
      review({ uid: 'u', allowed: true, patchType: 'JSONPatch', patch }),
      false,
      'validating webhook may not return response.patch',
    ],
    ['a merge patch', review({ uid: 'u', allowed: true, patchType: 'MergePatch', patch }), true, 'webhook returned invalid response.patchType of "MergePatch"'],
  ];
  for (const [name, body, mutating, message] of invalid) {
    it(`fails the call on ${name}`, () => {
      assert.throws(() => readVerdict(body, 'u', mutating), { code: 'ERR_WEBHOOK_CALL_FAILED', message: `received invalid webhook response: ${message}` });
    });
  }

  it('denies with the webhook’s code when at least 400, else 400, and its reason when it gives no message', () => {
    const forbidden = denial('p.example.com', { code: 403, reason: 'Forbidden', message: 'no' });
    assert.deepEqual([forbidden.code, forbidden.reason, forbidden.message], [403, 'Forbidden', 'admission webhook "p.example.com" denied the request: no']);
    const low = denial('p.example.com', { code: 200, reason: 'NotAllowed' });
    assert.deepEqual([low.code, low.message], [400, 'admission webhook "p.example.com" denied the request: NotAllowed']);
    assert.equal(denial('p.example.com', undefined).toStatus().reason, undefined);
  });
});
