// Test fixture for the CA and auth tests: the embedded API server with a ztunnel per node and a
// workload pod, pod-bound ServiceAccount tokens, and a PodLookup snapshot of the pods.
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import type { PodLookup, PodRecord } from '../../src/kube/pod-lookup.ts';

export const silent: Logger = pino({ level: 'silent' });

export interface CaCluster {
  dataDir: string;
  api: ApiServer;
  kc: KubeConfig;
  core: CoreV1Api;
  close(): Promise<void>;
}

export async function startCaCluster(): Promise<CaCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'istiod-ca-'));
  try {
    const api = await startApiServer({ dataDir, port: 0, logger: silent });
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    return {
      dataDir,
      api,
      kc,
      core: kc.makeApiClient(CoreV1Api),
      async close() {
        await api.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export async function createNamespace(core: CoreV1Api, name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
}

export async function createServiceAccount(core: CoreV1Api, namespace: string, name: string): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name, namespace } } });
}

/** A Pod object scheduled on `node` and marked Running through the status subresource (no kubelet). */
export async function createRunningPod(
  core: CoreV1Api,
  opts: { namespace: string; name: string; serviceAccount: string; node: string; phase?: string },
): Promise<V1Pod> {
  const pod = await core.createNamespacedPod({
    namespace: opts.namespace,
    body: {
      metadata: { name: opts.name, namespace: opts.namespace },
      spec: { nodeName: opts.node, serviceAccountName: opts.serviceAccount, containers: [{ name: 'app', image: 'app' }] },
    },
  });
  pod.status = { ...pod.status, phase: opts.phase ?? 'Running', podIP: '10.244.0.10' };
  return core.replaceNamespacedPodStatus({ name: opts.name, namespace: opts.namespace, body: pod });
}

/** A TokenRequest token for `sa`, bound to `pod` when given (so TokenReview names its node). */
export async function requestToken(core: CoreV1Api, namespace: string, sa: string, pod?: string): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600, ...(pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod } } : {}) } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`token request for ${namespace}/${sa} returned no token`);
  return token;
}

/**
 * A token signed with the API server's own ServiceAccount key but expired an hour ago: the only
 * way to get one, since TokenRequest refuses lifetimes under 10 minutes.
 */
export function expiredToken(cluster: CaCluster, namespace: string, sa: { name: string; uid: string }): string {
  const privateKey = createPrivateKey(readFileSync(join(cluster.dataDir, 'pki', 'service-account.key'), 'utf8'));
  const kid = createHash('sha256')
    .update(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }))
    .digest('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: ['https://kubernetes.default.svc.cluster.local'],
    iat: now - 7200,
    nbf: now - 7200,
    exp: now - 3600,
    iss: 'https://kubernetes.default.svc.cluster.local',
    jti: randomUUID(),
    sub: `system:serviceaccount:${namespace}:${sa.name}`,
    'kubernetes.io': { namespace, serviceaccount: sa },
  };
  const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'ES256', kid })}.${b64(claims)}`;
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** The pods the API server holds now, as the CA's PodLookup. */
export async function podSnapshot(core: CoreV1Api): Promise<PodLookup> {
  const list = await core.listPodForAllNamespaces();
  const pods: PodRecord[] = list.items.map((p) => {
    const rec: PodRecord = { namespace: p.metadata!.namespace!, name: p.metadata!.name!, serviceAccount: p.spec?.serviceAccountName ?? 'default' };
    if (p.status?.phase !== undefined) rec.phase = p.status.phase;
    if (p.spec?.nodeName !== undefined) rec.nodeName = p.spec.nodeName;
    return rec;
  });
  return {
    podsOnNode: (node) => pods.filter((p) => p.nodeName === node),
    podByName: (namespace, name) => pods.find((p) => p.namespace === namespace && p.name === name),
  };
}

/** Polls `check` until it returns something other than undefined/false, or fails after timeoutMs. */
export async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(25);
  }
}
