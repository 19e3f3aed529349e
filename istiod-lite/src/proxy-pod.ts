// Pure: how a mesh proxy that istiod-lite puts into a pod reaches the control plane. Waypoint
// Deployments (waypoint/waypoint-manifests.ts) and injected sidecars (inject/sidecar-template.ts)
// render the same env, volumes and mounts from the same options (istiod-lite's --waypoint-*
// flags and --trust-domain), so both kinds of proxy run wherever one does.
//
// The volumes are what a real cluster needs: the mesh root from ConfigMap istio-ca-root-cert
// (published in every namespace by ca/root-cert-publisher.ts) and a ServiceAccount token
// projected for the mesh CA's audience. The local cluster's kubelet ignores the ConfigMap volume
// (istiod-lite is then told a host file with --waypoint-root-cert-file) and writes the
// projected token where the mount says.
import { ports } from '@ambient/api';

/** Where the pod mounts the istio-ca-root-cert ConfigMap and the projected token. */
export const proxyRootCertDir = '/var/run/secrets/istio';
export const proxyTokenDir = '/var/run/secrets/tokens';
/** The audience of the projected token: the mesh CA's, as Istio's proxies use. */
export const proxyTokenAudience = 'istio-ca';
export const proxyTokenExpirationSeconds = 43200;

/** What a proxy container is told about reaching the control plane (istiod-lite's --waypoint-* flags). */
export interface ProxyPodOptions {
  /** ISTIOD_ADDRESS: host:port, or unix:<path>. */
  istiodAddress: string;
  /** ROOT_CERT_FILE: the mesh root the proxy verifies istiod-lite and peers with. */
  rootCertFile: string;
  /** AMBIENT_SA_TOKEN_FILE; '' sets nothing, for a kubelet that provides it. */
  tokenFile: string;
  /** TRUST_DOMAIN: the mesh's (istiod-lite --trust-domain). */
  trustDomain: string;
}

export const defaultProxyPodOptions: ProxyPodOptions = {
  istiodAddress: `istiod.istio-system.svc:${ports.istiodGrpc}`,
  rootCertFile: `${proxyRootCertDir}/root-cert.pem`,
  tokenFile: `${proxyTokenDir}/istio-token`,
  trustDomain: 'cluster.local',
};

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef: { fieldPath: string } };
}

/** A downward-API env var (the local kubelet resolves fieldRefs, and refuses other sources). */
export const fieldRefEnv = (name: string, fieldPath: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** ISTIOD_ADDRESS, ROOT_CERT_FILE, TRUST_DOMAIN and (when set) AMBIENT_SA_TOKEN_FILE. */
export function controlPlaneEnv(pod: ProxyPodOptions): EnvVar[] {
  return [
    { name: 'ISTIOD_ADDRESS', value: pod.istiodAddress },
    { name: 'ROOT_CERT_FILE', value: pod.rootCertFile },
    { name: 'TRUST_DOMAIN', value: pod.trustDomain },
    ...(pod.tokenFile ? [{ name: 'AMBIENT_SA_TOKEN_FILE', value: pod.tokenFile }] : []),
  ];
}

export interface NamedVolume {
  name: string;
  [field: string]: unknown;
}

/** The volumes behind the default ROOT_CERT_FILE and AMBIENT_SA_TOKEN_FILE (names as Istio's). */
export function controlPlaneVolumes(): NamedVolume[] {
  return [
    { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
    {
      name: 'istio-token',
      projected: { sources: [{ serviceAccountToken: { path: 'istio-token', audience: proxyTokenAudience, expirationSeconds: proxyTokenExpirationSeconds } }] },
    },
  ];
}

export function controlPlaneVolumeMounts(): { name: string; mountPath: string; readOnly: boolean }[] {
  return [
    { name: 'istiod-ca-cert', mountPath: proxyRootCertDir, readOnly: true },
    { name: 'istio-token', mountPath: proxyTokenDir, readOnly: true },
  ];
}
