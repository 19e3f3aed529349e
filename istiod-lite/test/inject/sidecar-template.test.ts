import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/model/inputs.ts';
import { conflictingVolume, injectionSkipReason, sidecarContainer, sidecarInjectionPatch, sidecarStatus } from '../../src/inject/sidecar-template.ts';
import { defaultProxyPodOptions, type ProxyPodOptions } from '../../src/proxy-pod.ts';
import { applyJsonPatch } from './apply-json-patch.ts';

const appContainer = { name: 'app', image: 'reviews:2', ports: [{ name: 'http', containerPort: 9080 }] };

/** A pod as the API server hands it to the webhook: nothing but what the user wrote. */
const barePod = (): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reviews', namespace: 'shop' }, spec: { containers: [appContainer] } });

/** A Deployment's pod: generateName, owner, labels, annotations and a volume of its own. */
const deploymentPod = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'reviews-v2-7d9f8c6b5-',
    namespace: 'shop',
    labels: { app: 'reviews', version: 'v2', 'pod-template-hash': '7d9f8c6b5' },
    annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'reviews-v2-7d9f8c6b5', uid: 'rs', controller: true }],
  },
  spec: { serviceAccountName: 'reviews', containers: [appContainer], volumes: [{ name: 'data', emptyDir: {} }] },
});

const injected = (pod: KubeObject, opts: ProxyPodOptions = defaultProxyPodOptions): KubeObject => applyJsonPatch(pod, sidecarInjectionPatch(pod, opts));
const envOf = (container: any): Record<string, unknown> =>
  Object.fromEntries(container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));

describe('sidecar injection template', () => {
  it('injects into a pod that has no labels, annotations or volumes yet (the maps and list are added whole)', () => {
    const pod = injected(barePod());
    assert.deepEqual(pod.spec.containers, [appContainer], 'the app container is untouched');
    assert.deepEqual(
      pod.spec.initContainers.map((c: { name: string }) => c.name),
      ['istio-proxy'],
    );
    assert.deepEqual(
      pod.spec.volumes.map((v: { name: string }) => v.name),
      ['istiod-ca-cert', 'istio-token'],
    );
    assert.deepEqual(pod.metadata?.annotations, { 'sidecar.istio.io/status': sidecarStatus() });
    assert.deepEqual(pod.metadata?.labels, {
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': 'reviews',
      'service.istio.io/canonical-revision': 'latest',
    });
  });

  it("adds to a pod's own labels, annotations and volumes without touching them, escaping '/' in keys", () => {
    const before = deploymentPod();
    const ops = sidecarInjectionPatch(before, defaultProxyPodOptions);
    assert.ok(
      ops.some((o) => o.path === '/metadata/annotations/sidecar.istio.io~1status'),
      'the status annotation key is escaped',
    );
    assert.ok(ops.some((o) => o.path === '/metadata/labels/security.istio.io~1tlsMode'));
    const pod = injected(before);
    assert.deepEqual(pod.metadata?.annotations, {
      'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z',
      'sidecar.istio.io/status': sidecarStatus(),
    });
    assert.deepEqual(pod.metadata?.labels, {
      app: 'reviews',
      version: 'v2',
      'pod-template-hash': '7d9f8c6b5',
      'security.istio.io/tlsMode': 'istio',
      // The Deployment (from the ReplicaSet owner) is the fallback; the app label wins over it.
      'service.istio.io/canonical-name': 'reviews',
      'service.istio.io/canonical-revision': 'v2',
    });
    assert.deepEqual(
      pod.spec.volumes.map((v: { name: string }) => v.name),
      ['data', 'istiod-ca-cert', 'istio-token'],
    );
    assert.equal(pod.spec.serviceAccountName, 'reviews');
  });

  it('keeps canonical labels the user set and derives the name from the owner or generateName otherwise', () => {
    const own = deploymentPod();
    own.metadata!.labels = { 'service.istio.io/canonical-name': 'mine', 'service.istio.io/canonical-revision': 'r1' };
    assert.deepEqual(injected(own).metadata?.labels, {
      'service.istio.io/canonical-name': 'mine',
      'service.istio.io/canonical-revision': 'r1',
      'security.istio.io/tlsMode': 'istio',
    });
    const fromOwner = deploymentPod();
    fromOwner.metadata!.labels = {};
    assert.equal(injected(fromOwner).metadata?.labels?.['service.istio.io/canonical-name'], 'reviews-v2');
    const orphan: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'batch-', namespace: 'shop' }, spec: { containers: [appContainer] } };
    assert.equal(injected(orphan).metadata?.labels?.['service.istio.io/canonical-name'], 'batch');
  });

  it('writes the status annotation as Istio does: the containers and volumes it injected', () => {
    assert.deepEqual(JSON.parse(sidecarStatus()), {
      initContainers: ['istio-proxy'],
      containers: null,
      volumes: ['istiod-ca-cert', 'istio-token'],
      revision: 'default',
    });
  });

  it("injects the proxy as a native sidecar ahead of the pod's own init containers, started only once its traffic is captured", () => {
    const pod = injected({ ...barePod(), spec: { containers: [appContainer], initContainers: [{ name: 'migrate', image: 'db', command: ['migrate'] }] } });
    assert.deepEqual(
      pod.spec.initContainers.map((c: { name: string }) => c.name),
      ['istio-proxy', 'migrate'],
    );
    const proxy = pod.spec.initContainers[0];
    assert.equal(proxy.restartPolicy, 'Always');
    assert.deepEqual(proxy.startupProbe.httpGet, { path: '/healthz/ready', port: 15021 });
    assert.equal(proxy.startupProbe.periodSeconds, 1);
  });

  it('runs ambient-sidecar and tells it who it is and how to reach istiod-lite, like a waypoint pod', () => {
    const c = sidecarContainer(defaultProxyPodOptions) as any;
    assert.equal(c.name, 'istio-proxy');
    assert.equal(c.image, 'ambient/sidecar:local');
    assert.deepEqual(c.command, ['ambient-sidecar']);
    assert.deepEqual(envOf(c), {
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      POD_IP: { fieldRef: { fieldPath: 'status.podIP' } },
      SERVICE_ACCOUNT: { fieldRef: { fieldPath: 'spec.serviceAccountName' } },
      ISTIOD_ADDRESS: 'istiod.istio-system.svc:15012',
      ROOT_CERT_FILE: '/var/run/secrets/istio/root-cert.pem',
      TRUST_DOMAIN: 'cluster.local',
      AMBIENT_SA_TOKEN_FILE: '/var/run/secrets/tokens/istio-token',
    });
    for (const e of c.env)
      assert.ok(typeof e.value === 'string' || Object.keys(e.valueFrom ?? {}).join() === 'fieldRef', `${e.name}: literal or fieldRef only`);
  });

  it('renders the --waypoint-* values (the local cluster: a socket, a root file, no token file)', () => {
    const local: ProxyPodOptions = {
      istiodAddress: 'unix:/data/istiod.sock',
      rootCertFile: '/data/mesh-root-cert.pem',
      tokenFile: '',
      trustDomain: 'example.org',
    };
    const env = envOf(injected(barePod(), local).spec.initContainers[0]);
    assert.equal(env.ISTIOD_ADDRESS, 'unix:/data/istiod.sock');
    assert.equal(env.ROOT_CERT_FILE, '/data/mesh-root-cert.pem');
    assert.equal(env.TRUST_DOMAIN, 'example.org');
    assert.equal('AMBIENT_SA_TOKEN_FILE' in env, false);
  });

  it('mounts the root and the istio-ca token where ROOT_CERT_FILE and AMBIENT_SA_TOKEN_FILE point', () => {
    const pod = injected(barePod());
    const c = pod.spec.initContainers[0];
    const env = envOf(c);
    const mount = (name: string) => c.volumeMounts.find((m: { name: string }) => m.name === name);
    const volume = (name: string) => pod.spec.volumes.find((v: { name: string }) => v.name === name);
    assert.deepEqual(volume('istiod-ca-cert'), { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } });
    const token = volume('istio-token').projected.sources[0].serviceAccountToken;
    assert.equal(token.audience, 'istio-ca');
    assert.equal(env.ROOT_CERT_FILE, `${mount('istiod-ca-cert').mountPath}/root-cert.pem`);
    assert.equal(env.AMBIENT_SA_TOKEN_FILE, `${mount('istio-token').mountPath}/${token.path}`);
  });

  it("exposes Istio's proxy ports under names no app port uses, and probes readiness on 15021", () => {
    const c = sidecarContainer(defaultProxyPodOptions) as any;
    assert.deepEqual(
      c.ports.map((p: { name: string; containerPort: number }) => [p.containerPort, p.name]),
      [
        [15001, 'proxy-outbound'],
        [15006, 'proxy-inbound'],
        [15008, 'hbone'],
        [15020, 'proxy-metrics'],
        [15021, 'status-port'],
      ],
    );
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021 });
  });

  it('may install capture rules (NET_ADMIN, NET_RAW as root) and nothing more', () => {
    const sc = (sidecarContainer(defaultProxyPodOptions) as any).securityContext;
    assert.deepEqual(sc.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
    assert.equal(sc.runAsUser, 0);
    assert.equal(sc.runAsNonRoot, false);
    assert.equal(sc.privileged, false);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
  });

  describe('which pods are injected', () => {
    const withMeta = (meta: object, spec: object = {}): KubeObject => {
      const p = barePod();
      p.metadata = { ...p.metadata, ...meta };
      p.spec = { ...p.spec, ...spec };
      return p;
    };
    const cases: { name: string; pod: KubeObject; ns?: string; want: RegExp | undefined }[] = [
      { name: 'a plain pod', pod: barePod(), want: undefined },
      { name: 'a pod labelled sidecar.istio.io/inject=true', pod: withMeta({ labels: { 'sidecar.istio.io/inject': 'true' } }), want: undefined },
      { name: 'a pod in the root namespace', pod: barePod(), ns: 'istio-system', want: /namespace istio-system is never injected/ },
      { name: 'a pod in kube-system', pod: barePod(), ns: 'kube-system', want: /namespace kube-system/ },
      {
        name: 'an injected pod (status annotation)',
        pod: withMeta({ annotations: { 'sidecar.istio.io/status': '{}' } }),
        want: /already injected \(annotation sidecar.istio.io\/status\)/,
      },
      {
        name: 'a pod with a container named istio-proxy',
        pod: withMeta({}, { containers: [appContainer, { name: 'istio-proxy' }] }),
        want: /already injected \(a container named istio-proxy\)/,
      },
      {
        name: 'a pod with an init container named istio-proxy',
        pod: withMeta({}, { containers: [appContainer], initContainers: [{ name: 'istio-proxy' }] }),
        want: /already injected \(a container named istio-proxy\)/,
      },
      {
        name: 'a pod labelled sidecar.istio.io/inject=false',
        pod: withMeta({ labels: { 'sidecar.istio.io/inject': 'false' } }),
        want: /opted out \(label sidecar.istio.io\/inject=false\)/,
      },
      {
        name: 'a pod annotated sidecar.istio.io/inject=false',
        pod: withMeta({ annotations: { 'sidecar.istio.io/inject': 'false' } }),
        want: /opted out \(annotation/,
      },
      { name: 'a hostNetwork pod', pod: withMeta({}, { hostNetwork: true }), want: /hostNetwork/ },
    ];
    for (const c of cases) {
      it(`${c.want === undefined ? 'injects' : 'skips'} ${c.name}`, () => {
        const reason = injectionSkipReason(c.pod, c.ns ?? 'shop', 'istio-system');
        if (c.want === undefined) assert.equal(reason, undefined);
        else assert.match(reason ?? '(injected)', c.want);
      });
    }

    it('notices a volume of the pod that has the name of one it would add', () => {
      assert.equal(conflictingVolume(deploymentPod()), undefined);
      const p = deploymentPod();
      p.spec.volumes.push({ name: 'istio-token', emptyDir: {} });
      assert.equal(conflictingVolume(p), 'istio-token');
    });
  });
});
