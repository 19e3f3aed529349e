// istiod-lite end to end against the embedded Kubernetes API server: a subscribed discovery
// client sees enrollment, un-enrollment and pod deletion; kubectl shows status conditions; the
// CA and metrics answer; the injection webhook serves and its configuration is written; a sidecar
// gets its own config. No root needed: pods are API objects whose status the test writes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { DeltaXdsClient, type XdsDisconnect } from '@ambient/api/grpc';
import type { Address, Authorization, WaypointConfig } from '@ambient/api';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { startIstiod, type Istiod } from '../../src/app.ts';
import { typeUrls } from '@ambient/api';
import { mergePatch } from '@ambient/api/kube';
import { createWaypointGateway } from '../waypoint-gateway.ts';
import { serveMutatingWebhookConfigurations } from '../inject/admission-api.ts';

const kubectl = resolve(import.meta.dirname, '../../../.cache/kubectl/v1.34/kubectl');

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('istiod-lite against the embedded API server', function () {
  this.timeout(60_000);
  let dataDir: string;
  let api: ApiServer;
  let istiod: Istiod;
  let client: DeltaXdsClient;
  let core: CoreV1Api;
  let kc: KubeConfig;

  const workload = (uid: string): Address['workload'] => (client.resources(typeUrls.address).get(uid)?.payload as Address | undefined)?.workload;

  async function runningPod(namespace: string, name: string, ip: string, labels: Record<string, string> = {}): Promise<V1Pod> {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels },
        spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] },
      },
    });
    pod.status = { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] };
    return core.replaceNamespacedPodStatus({ name, namespace, body: pod });
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'istiod-app-'));
    api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
    kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    await serveMutatingWebhookConfigurations(kc);
    istiod = await startIstiod({
      kubeConfig: kc,
      logger: pino({ level: 'silent' }),
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      webhookPort: 0,
      // As the local cluster runs it: its API server calls the webhook on the host.
      webhookUrlHost: '127.0.0.1',
      udsPath: join(dataDir, 'istiod.sock'),
      installCrds: true,
      identity: 'istiod-test',
      allowTestProxies: true,
      processMetrics: true,
    });
    await core.createNamespace({ body: { metadata: { name: 'shop' } } });
    await core.createNamespacedServiceAccount({ namespace: 'istio-system', body: { metadata: { name: 'tester' } } });
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: 'tester',
        namespace: 'istio-system',
        body: { spec: { audiences: ['istio-ca'], expirationSeconds: 3600 } },
      })
    ).status!.token!;
    client = new DeltaXdsClient({
      address: istiod.grpcAddress,
      rootCertPem: istiod.rootCertPem,
      servername: istiod.serverName,
      token: () => token,
      node: { id: 'test~1', type: 'test', nodeName: 'node-1' },
      subscriptions: [{ typeUrl: typeUrls.address }, { typeUrl: typeUrls.authorization }],
    });
    client.start();
  });

  after(async () => {
    client?.close();
    await istiod?.stop();
    await api?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  let web: V1Pod;

  it('streams a new pod as a plaintext (NONE) workload', async () => {
    web = await runningPod('shop', 'web', '10.244.1.7', { app: 'web' });
    const w = await waitFor('the web workload', () => workload(web.metadata!.uid!));
    assert.equal(w!.tunnelProtocol ?? 'NONE', 'NONE');
    assert.deepEqual(w!.addresses, ['10.244.1.7']);
    assert.equal(w!.identity, 'spiffe://cluster.local/ns/shop/sa/default');
  });

  it('makes the workloads HBONE within a second of labelling the namespace, and reverts on un-labelling', async () => {
    const labelled = performance.now();
    await core.patchNamespace({ name: 'shop', body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } } }, mergePatch);
    await waitFor('HBONE', () => workload(web.metadata!.uid!)?.tunnelProtocol === 'HBONE', 1_000);
    assert.ok(performance.now() - labelled < 1_000);
    await core.patchNamespace({ name: 'shop', body: { metadata: { labels: { 'istio.io/dataplane-mode': null } } } }, mergePatch);
    await waitFor('back to NONE', () => (workload(web.metadata!.uid!)?.tunnelProtocol ?? 'NONE') === 'NONE', 1_000);
  });

  it('removes a deleted pod from the stream', async () => {
    const tmp = await runningPod('shop', 'tmp', '10.244.1.8');
    await waitFor('tmp workload', () => workload(tmp.metadata!.uid!));
    await core.deleteNamespacedPod({ name: 'tmp', namespace: 'shop' });
    await waitFor('tmp removed', () => !client.resources(typeUrls.address).has(tmp.metadata!.uid!));
  });

  it('programs a waypoint Gateway: PROGRAMMED in kubectl get gateway, with its Deployment and Service', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    await createWaypointGateway(custom, 'shop');
    const env = { ...process.env, KUBECONFIG: api.kubeconfigPath };
    const row = await waitFor(
      'PROGRAMMED True',
      async () => {
        const { stdout } = await promisify(execFile)(kubectl, ['get', 'gateway', '-n', 'shop'], { env, encoding: 'utf8' });
        return /waypoint\s+istio-waypoint\s+\S+\s+True/.test(stdout) && stdout;
      },
      10_000,
    );
    assert.match(row, /PROGRAMMED/);
    await core.readNamespacedService({ name: 'waypoint', namespace: 'shop' });
  });

  it('writes ZtunnelAccepted on an AuthorizationPolicy, visible with kubectl -o yaml', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'shop',
      plural: 'authorizationpolicies',
      body: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'get-only' },
        spec: { selector: { matchLabels: { app: 'web' } }, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
      },
    });
    const env = { ...process.env, KUBECONFIG: api.kubeconfigPath };
    const yaml = await waitFor(
      'the condition',
      async () => {
        const { stdout } = await promisify(execFile)(kubectl, ['get', 'authorizationpolicy', 'get-only', '-n', 'shop', '-o', 'yaml'], {
          env,
          encoding: 'utf8',
        });
        return stdout.includes('ZtunnelAccepted') && stdout;
      },
      10_000,
    );
    assert.match(yaml, /reason: UnsupportedValue/);
    assert.match(yaml, /ztunnel does not support HTTP attributes \(found: methods\)/);
    const auth = await waitFor('the compiled policy', () => client.resources(typeUrls.authorization).get('shop/get-only'));
    assert.ok(auth);
  });

  it('enforces an invalid DENY as deny-all (fail closed) with a condition saying why, and keeps the rest flowing', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1',
      namespace: 'shop',
      plural: 'authorizationpolicies',
      body: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'bad-cidr' },
        spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/99'] } }] }] },
      },
    });
    const status = await waitFor(
      'the Invalid condition',
      async () => {
        const obj = (await custom.getNamespacedCustomObject({
          group: 'security.istio.io',
          version: 'v1',
          namespace: 'shop',
          plural: 'authorizationpolicies',
          name: 'bad-cidr',
        })) as { status?: { conditions?: { reason: string; message: string }[] } };
        return obj.status?.conditions?.find((c) => c.reason === 'Invalid');
      },
      10_000,
    );
    assert.match(status.message, /10\.0\.0\.0\/99.*enforced as deny-all for the workloads it selects until fixed/);
    const pushed = (await waitFor('the fail-closed policy', () => client.resources(typeUrls.authorization).get('shop/bad-cidr'))).payload as Authorization;
    assert.equal(pushed.action, 'DENY');
    assert.equal(pushed.rules?.length, 1, 'one rule');
    assert.deepEqual(pushed.rules![0]!.clauses ?? [], [], 'with no clauses: it matches every connection');
    assert.ok(client.resources(typeUrls.authorization).has('shop/get-only'), 'the valid policy is still pushed');
    const text = await (await fetch(istiod.metricsUrl)).text();
    assert.match(text, /istiod_lite_invalid_objects\{kind="AuthorizationPolicy"\} 1/);
  });

  it('serves the same stream on its Unix socket (how node processes in the local cluster reach it)', async () => {
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: 'tester',
        namespace: 'istio-system',
        body: { spec: { audiences: ['istio-ca'], expirationSeconds: 3600 } },
      })
    ).status!.token!;
    const uds = new DeltaXdsClient({
      address: istiod.udsAddress!,
      rootCertPem: istiod.rootCertPem,
      servername: istiod.serverName,
      token: () => token,
      node: { id: 'test~uds', type: 'test', nodeName: 'node-1' },
      subscriptions: [{ typeUrl: typeUrls.address }],
    });
    try {
      uds.start();
      await waitFor('a sync over the Unix socket', () => uds.resources(typeUrls.address).has(web.metadata!.uid!));
    } finally {
      uds.close();
    }
  });

  it('publishes the root certificate to every namespace and serves metrics', async () => {
    const cm = await waitFor('istio-ca-root-cert', async () =>
      core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'shop' }).catch(() => undefined),
    );
    assert.equal(cm.data?.['root-cert.pem'], istiod.rootCertPem);
    const text = await (await fetch(istiod.metricsUrl)).text();
    assert.match(text, /pilot_xds\{type="test"\} 1\b/);
    assert.match(text, /pilot_xds_pushes/);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.match(text, /^nodejs_heap_size_used_bytes \d+/m);
  });

  describe('token audiences', () => {
    const tokenFor = async (audiences: string[]) =>
      (await core.createNamespacedServiceAccountToken({ name: 'tester', namespace: 'istio-system', body: { spec: { audiences, expirationSeconds: 3600 } } }))
        .status!.token!;
    const subscriber = (token: string, id: string) =>
      new DeltaXdsClient({
        address: istiod.grpcAddress,
        rootCertPem: istiod.rootCertPem,
        servername: istiod.serverName,
        token: () => token,
        node: { id: `test~${id}`, type: 'test', nodeName: 'node-1' },
        subscriptions: [{ typeUrl: typeUrls.address }],
      });

    it('accepts the istio-ca token ztunnel and waypoints project (regression: TokenReview sent no spec.audiences, so the API server checked its own)', async () => {
      const c = subscriber(await tokenFor(['istio-ca']), 'istio-ca');
      const refused: XdsDisconnect[] = [];
      c.on('disconnected', (d) => refused.push(d));
      try {
        c.start();
        await waitFor('a sync with an istio-ca token', () => c.resources(typeUrls.address).size > 0 || refused.length > 0);
        assert.deepEqual(refused, []);
      } finally {
        c.close();
      }
    });

    it('refuses a token for the API server with UNAUTHENTICATED naming the audiences it accepts', async () => {
      const c = subscriber(await tokenFor([]), 'api-audience');
      const refused: XdsDisconnect[] = [];
      c.on('disconnected', (d) => refused.push(d));
      try {
        c.start();
        await waitFor('a refusal or a sync', () => refused.length > 0 || c.resources(typeUrls.address).size > 0);
        assert.equal(refused[0]?.code, grpc.status.UNAUTHENTICATED, 'a token for the API server is refused');
        assert.match(refused[0].details, /invalid for the target audiences \["istio-ca"\]/);
      } finally {
        c.close();
      }
    });
  });
  describe('sidecar mode', () => {
    it('serves the injection webhook over HTTPS verified by the mesh root, and registers it in istio-sidecar-injector', async () => {
      const body = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'u-1',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          namespace: 'shop',
          operation: 'CREATE',
          object: { metadata: { generateName: 'web-' }, spec: { containers: [{ name: 'app' }] } },
        },
      });
      const answer = await new Promise<any>((done, fail) => {
        const req = httpsRequest(istiod.webhookUrl, { method: 'POST', ca: istiod.rootCertPem, headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => done(JSON.parse(text)));
        });
        req.on('error', fail);
        req.end(body);
      });
      assert.equal(answer.response.uid, 'u-1');
      assert.equal(answer.response.patchType, 'JSONPatch');

      const env = { ...process.env, KUBECONFIG: api.kubeconfigPath };
      const config = await waitFor(
        'istio-sidecar-injector',
        async () => {
          const r = await promisify(execFile)(kubectl, ['get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector', '-o', 'json'], {
            env,
            encoding: 'utf8',
          }).catch(() => undefined);
          return r && JSON.parse(r.stdout);
        },
        10_000,
      );
      for (const hook of config.webhooks) {
        assert.equal(hook.clientConfig.url, istiod.webhookUrl, 'the actual port');
        assert.equal(Buffer.from(hook.clientConfig.caBundle, 'base64').toString(), istiod.rootCertPem);
      }
    });

    it("gives a sidecar, with its pod's token, its WaypointConfig and a native-tunnel workload; refuses a claim of another pod", async () => {
      await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name: 'client' } } });
      const annotations = { 'sidecar.istio.io/status': '{"containers":["istio-proxy"],"volumes":["istiod-ca-cert","istio-token"]}' };
      const created = await core.createNamespacedPod({
        namespace: 'shop',
        body: {
          metadata: { name: 'client-1', annotations },
          spec: { nodeName: 'node-1', serviceAccountName: 'client', containers: [{ name: 'app', image: 'x' }] },
        },
      });
      created.status = { phase: 'Running', podIP: '10.244.1.40', podIPs: [{ ip: '10.244.1.40' }], conditions: [{ type: 'Ready', status: 'True' }] };
      const pod = await core.replaceNamespacedPodStatus({ name: 'client-1', namespace: 'shop', body: created });
      const token = (
        await core.createNamespacedServiceAccountToken({
          name: 'client',
          namespace: 'shop',
          body: {
            spec: {
              audiences: ['istio-ca'],
              expirationSeconds: 3600,
              boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'client-1', uid: pod.metadata!.uid! },
            },
          },
        })
      ).status!.token!;
      const sidecar = (name: string) =>
        new DeltaXdsClient({
          address: istiod.grpcAddress,
          rootCertPem: istiod.rootCertPem,
          servername: istiod.serverName,
          token: () => token,
          node: { id: `sidecar~${name}`, type: 'sidecar', namespace: 'shop', name },
          subscriptions: [{ typeUrl: typeUrls.waypointConfig }, { typeUrl: typeUrls.address }],
        });
      const own = sidecar('client-1');
      try {
        own.start();
        const config = (await waitFor('the sidecar config', () => own.resources(typeUrls.waypointConfig).get('shop/client-1'))).payload as WaypointConfig;
        assert.equal(config.identity, 'spiffe://cluster.local/ns/shop/sa/client');
        assert.deepEqual([...own.resources(typeUrls.waypointConfig).keys()], ['shop/client-1'], 'its own config only');
        const self = (await waitFor('its own workload', () => own.resources(typeUrls.address).get(pod.metadata!.uid!))).payload as Address;
        assert.deepEqual([self.workload?.tunnelProtocol, self.workload?.nativeTunnel], ['HBONE', true]);
      } finally {
        own.close();
      }
      const other = sidecar('web');
      const refused: XdsDisconnect[] = [];
      other.on('disconnected', (d) => refused.push(d));
      try {
        other.start();
        await waitFor('a refusal', () => refused.length > 0);
        assert.equal(refused[0]!.code, grpc.status.PERMISSION_DENIED);
        assert.match(refused[0]!.details, /sidecar shop\/web needs a token bound to pod shop\/web, caller's is bound to pod shop\/client-1/);
      } finally {
        other.close();
      }
    });
  });
});
