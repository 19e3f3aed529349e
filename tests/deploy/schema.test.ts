// Every object each install path renders validates against the Kubernetes OpenAPI schemas
// (kube-schema.ts: kubernetes-models' validators plus unknown-field checks), offline.
import assert from 'node:assert/strict';
import { schemaErrors } from './kube-schema.ts';
import { allSources, objectKey, parseManifests, render } from './render.ts';

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{ containerPort: 8080 }]
`;

const deployment = (edit: (d: any) => void) => {
  const [d] = parseManifests(DEPLOYMENT);
  edit(d);
  return d!;
};

describe('deploy/ manifests against the Kubernetes OpenAPI schemas', function () {
  this.timeout(30_000);

  for (const source of allSources) {
    it(`validates every object of ${source}`, async () => {
      const { objects } = await render(source);
      assert.ok(objects.length > 0);
      const failures: string[] = [];
      for (const o of objects) for (const e of await schemaErrors(o)) failures.push(`${objectKey(o)}: ${e}`);
      assert.deepEqual(failures, []);
    });
  }

  it('accepts a plain Deployment (the probe the refusals below start from)', async () => {
    assert.deepEqual(await schemaErrors(deployment(() => {})), []);
  });

  it('refuses a misspelt field, naming it (spec.replica for spec.replicas)', async () => {
    const errors = await schemaErrors(
      deployment((d) => {
        d.spec.replica = d.spec.replicas;
        delete d.spec.replicas;
      }),
    );
    assert.deepEqual(errors, ['unknown field "spec.replica"']);
  });

  it('refuses an unknown field deep in a pod template, with its path', async () => {
    const errors = await schemaErrors(
      deployment((d) => {
        d.spec.template.spec.containers[0].securityContext = { capabilites: { drop: ['ALL'] } };
      }),
    );
    assert.deepEqual(errors, ['unknown field "spec.template.spec.containers[0].securityContext.capabilites"']);
  });

  it('refuses a wrong type, a missing required field and an invalid quantity', async () => {
    const errors = await schemaErrors(
      deployment((d) => {
        d.spec.replicas = 'two';
        delete d.spec.template.spec.containers[0].name;
        d.spec.template.spec.containers[0].resources = { requests: { memory: 'lots' } };
      }),
    );
    assert.ok(errors.includes('spec.replicas: must be integer'), errors.join('\n'));
    assert.ok(errors.includes('spec.template.spec.containers[0]: must have required property name'), errors.join('\n'));
    assert.ok(
      errors.some((e) => e.startsWith('spec.template.spec.containers[0].resources.requests.memory: ')),
      errors.join('\n'),
    );
  });

  it('refuses a kind it has no schema for rather than passing it', async () => {
    const [policy] = parseManifests('apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x }\nspec: {}\n');
    assert.deepEqual(await schemaErrors(policy!), ['no Kubernetes schema for security.istio.io/v1 AuthorizationPolicy']);
  });
});
