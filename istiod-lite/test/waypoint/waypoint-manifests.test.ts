import assert from 'node:assert/strict';
import { defaultMeshOptions, emptyInputs, type KubeObject } from '../../src/model/inputs.ts';
import { findWaypoints, type Waypoint } from '../../src/model/waypoints.ts';
import { defaultProxyPodOptions, type ProxyPodOptions } from '../../src/proxy-pod.ts';
import { waypointObjects } from '../../src/waypoint/waypoint-manifests.ts';

const gateway: KubeObject = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'wp', namespace: 'shop', uid: 'u1' },
  spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
};
const wp: Waypoint = findWaypoints({ ...emptyInputs(), gateways: [gateway] }, defaultMeshOptions).get('shop/wp')!;

/** The waypoint container and pod spec of the rendered Deployment. */
function podOf(opts: ProxyPodOptions) {
  const deploy = waypointObjects(wp, opts).find((o) => o.kind === 'Deployment')!;
  const spec = deploy.spec.template.spec;
  return { spec, container: spec.containers[0] };
}
const envOf = (opts: ProxyPodOptions): Record<string, unknown> =>
  Object.fromEntries(podOf(opts).container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));

describe('waypointObjects: a runnable waypoint pod', () => {
  it('tells the waypoint where istiod-lite, the root and its token are, and who it is (real-cluster defaults)', () => {
    assert.deepEqual(envOf(defaultProxyPodOptions), {
      GATEWAY_NAME: 'wp',
      GATEWAY_NAMESPACE: 'shop',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      ISTIOD_ADDRESS: 'istiod.istio-system.svc:15012',
      ROOT_CERT_FILE: '/var/run/secrets/istio/root-cert.pem',
      TRUST_DOMAIN: 'cluster.local',
      AMBIENT_SA_TOKEN_FILE: '/var/run/secrets/tokens/istio-token',
    });
  });

  it("renders the given control-plane address, root file and trust domain, and no token file when it is '' (the local kubelet provides one)", () => {
    const env = envOf({ istiodAddress: 'unix:/data/istiod.sock', rootCertFile: '/data/mesh-root-cert.pem', tokenFile: '', trustDomain: 'example.org' });
    assert.equal(env.ISTIOD_ADDRESS, 'unix:/data/istiod.sock');
    assert.equal(env.ROOT_CERT_FILE, '/data/mesh-root-cert.pem');
    assert.equal(env.TRUST_DOMAIN, 'example.org');
    assert.equal('AMBIENT_SA_TOKEN_FILE' in env, false);
  });

  it('uses only literal values and fieldRefs in env (the local kubelet refuses other sources)', () => {
    for (const e of podOf(defaultProxyPodOptions).container.env) {
      assert.ok(typeof e.value === 'string' || Object.keys(e.valueFrom ?? {}).join() === 'fieldRef', e.name);
    }
  });

  it('mounts the istio-ca-root-cert ConfigMap and an istio-ca audience token where the defaults point', () => {
    const { spec, container } = podOf(defaultProxyPodOptions);
    assert.deepEqual(spec.volumes, [
      { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
      { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { path: 'istio-token', audience: 'istio-ca', expirationSeconds: 43200 } }] } },
    ]);
    assert.deepEqual(container.volumeMounts, [
      { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio', readOnly: true },
      { name: 'istio-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
    ]);
    // The files the env points at are the ones the mounts provide.
    const env = envOf(defaultProxyPodOptions);
    assert.equal(env.ROOT_CERT_FILE, `${container.volumeMounts[0].mountPath}/root-cert.pem`);
    assert.equal(env.AMBIENT_SA_TOKEN_FILE, `${container.volumeMounts[1].mountPath}/${spec.volumes[1].projected.sources[0].serviceAccountToken.path}`);
    assert.equal(spec.serviceAccountName, 'wp');
  });

  it('exposes mesh, metrics and readiness ports and probes /healthz/ready on 15021', () => {
    const { container } = podOf(defaultProxyPodOptions);
    assert.deepEqual(container.ports, [
      { name: 'mesh', containerPort: 15008, protocol: 'TCP' },
      { name: 'metrics', containerPort: 15020, protocol: 'TCP' },
      { name: 'status-port', containerPort: 15021, protocol: 'TCP' },
    ]);
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021 });
    assert.deepEqual(container.command, ['ambient-waypoint']);
  });
});
