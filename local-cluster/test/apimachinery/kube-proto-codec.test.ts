// Kubernetes protobuf bodies → JSON, with the message definitions read out of the real kubectl
// 1.34 binary (scripts/fetch-kubectl.sh puts it in .cache/kubectl/).
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ApiError } from '../../src/apimachinery/errors.ts';
import { decodeKubeProtobuf, goDuration } from '../../src/apimachinery/kube-proto-codec.ts';
import { type KubeProtoSchema, kubeProtoSchemaFromBinary } from '../../src/apimachinery/kube-proto-schema.ts';

const KUBECTL = resolve(import.meta.dirname, '../../../.cache/kubectl/v1.34/kubectl');

describe('kube protobuf schema and codec', function () {
  this.timeout(30_000);
  let schema: KubeProtoSchema;
  before(() => {
    schema = kubeProtoSchemaFromBinary(KUBECTL);
  });

  /** `k8s\0` + runtime.Unknown{typeMeta, raw: <message of kind>} as kubectl sends it. */
  const envelope = (apiVersion: string, kind: string, message: Record<string, unknown>, typeName?: string): Buffer => {
    const type = typeName ? schema.root.lookupType(typeName) : schema.typeOf(apiVersion, kind)!;
    const raw = type.encode(type.fromObject(message)).finish();
    const unknown = schema.root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown');
    const body = unknown.encode(unknown.fromObject({ typeMeta: { apiVersion, kind }, raw })).finish();
    return Buffer.concat([Buffer.from('k8s\0', 'latin1'), body]);
  };

  it('finds the embedded structs that JSON inlines, and only those', () => {
    for (const f of [
      'k8s.io.api.core.v1.Probe.handler',
      'k8s.io.api.core.v1.Volume.volumeSource',
      'k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon',
      'k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference',
      'k8s.io.api.networking.v1.IngressRule.ingressRuleValue',
    ]) {
      assert.ok(schema.inline.has(f), f);
    }
    // Same shape (a message field named after its type), but a real JSON field.
    assert.ok(!schema.inline.has('k8s.io.api.core.v1.PodAffinityTerm.labelSelector'));
    assert.ok(!schema.inline.has('k8s.io.api.core.v1.Pod.metadata'));
  });

  it('maps apiVersion and kind to the message, meta kinds included', () => {
    const name = (v: string, k: string) => schema.typeOf(v, k)?.fullName;
    assert.equal(name('v1', 'Namespace'), '.k8s.io.api.core.v1.Namespace');
    assert.equal(name('apps/v1', 'Deployment'), '.k8s.io.api.apps.v1.Deployment');
    assert.equal(name('rbac.authorization.k8s.io/v1', 'RoleBinding'), '.k8s.io.api.rbac.v1.RoleBinding');
    assert.equal(name('autoscaling/v1', 'Scale'), '.k8s.io.api.autoscaling.v1.Scale');
    assert.equal(name('v1', 'DeleteOptions'), '.k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions');
    assert.equal(name('meta.k8s.io/v1', 'DeleteOptions'), '.k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions');
    assert.equal(name('apps/v1', 'Gateway'), undefined);
  });

  it('decodes a Pod the way JSON carries it: inlined structs, maps, Time, Quantity, IntOrString', () => {
    const pod = decodeKubeProtobuf(
      schema,
      envelope('v1', 'Pod', {
        metadata: {
          name: 'web',
          generateName: '', // a zero scalar: kubectl writes every non-pointer field
          labels: [
            { key: 'app', value: 'web' },
            { key: 'empty', value: '' },
          ],
          creationTimestamp: { seconds: 1_767_225_600, nanos: 0 },
        },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'nginx',
              args: ['', '-v'],
              ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
              env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { localObjectReference: { name: 'cfg' }, key: 'mode' } } }],
              resources: { limits: [{ key: 'cpu', value: { string: '500m' } }] },
              livenessProbe: { handler: { httpGet: { path: '/healthz', port: { type: 1, strVal: 'http' } } }, periodSeconds: 5 },
              readinessProbe: { handler: { tcpSocket: { port: { type: 0, intVal: 8080 } } } },
            },
          ],
          volumes: [{ name: 'config', volumeSource: { configMap: { localObjectReference: { name: 'cfg' } } } }],
          terminationGracePeriodSeconds: 30,
        },
        status: {},
      }),
    );
    assert.deepEqual(pod, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'web', labels: { app: 'web', empty: '' }, creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'nginx',
            args: ['', '-v'],
            ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
            env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } }],
            resources: { limits: { cpu: '500m' } },
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 5 },
            readinessProbe: { tcpSocket: { port: 8080 } },
          },
        ],
        volumes: [{ name: 'config', configMap: { name: 'cfg' } }],
        terminationGracePeriodSeconds: 30,
      },
      status: {},
    });
  });

  it('carries bytes as base64 and a named slice (ExtraValue) as an array', () => {
    const secret = decodeKubeProtobuf(
      schema,
      envelope('v1', 'Secret', { metadata: { name: 's' }, data: [{ key: 'token', value: Buffer.from('hunter2') }], type: 'Opaque' }),
    );
    assert.deepEqual(secret.data, { token: Buffer.from('hunter2').toString('base64') });
    const review = decodeKubeProtobuf(
      schema,
      envelope('authorization.k8s.io/v1', 'SubjectAccessReview', {
        spec: { user: 'alice', extra: [{ key: 'scopes', value: { items: ['a', 'b'] } }], resourceAttributes: { verb: 'get', resource: 'pods' } },
      }),
    );
    assert.deepEqual(review.spec, { user: 'alice', extra: { scopes: ['a', 'b'] }, resourceAttributes: { verb: 'get', resource: 'pods' } });
  });

  it('refuses a body without the envelope, of an unknown kind, or truncated, as 400s', () => {
    const refused = (body: Buffer, message: RegExp) =>
      assert.throws(
        () => decodeKubeProtobuf(schema, body),
        (err: unknown) => err instanceof ApiError && err.code === 400 && message.test(err.message),
      );
    refused(Buffer.from('{"kind":"Pod"}'), /envelope prefix/);
    refused(envelope('example.com/v1', 'Widget', {}, 'k8s.io.api.core.v1.Pod'), /no protobuf message is known for kind "Widget"/);
    const whole = envelope('v1', 'Namespace', { metadata: { name: 'shop' } });
    refused(whole.subarray(0, whole.length - 3), /malformed protobuf/);
  });

  it("writes durations as Go's time.Duration does", () => {
    assert.equal(goDuration(0), '0s');
    assert.equal(goDuration(1_500_000), '1.5ms');
    assert.equal(goDuration(90e9), '1m30s');
    assert.equal(goDuration(3600e9), '1h0m0s');
    assert.equal(goDuration(2.5e9), '2.5s');
  });
});
