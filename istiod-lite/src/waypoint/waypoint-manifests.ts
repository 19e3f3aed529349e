// Pure: what a waypoint Gateway becomes in Kubernetes, as Istio's deployment controller
// renders it: a ServiceAccount (the waypoint's SPIFFE identity), a Deployment running the
// waypoint, and a Service on the HBONE port, all owned by the Gateway so deleting it lets the
// API server's garbage collector remove them. Which Gateways are waypoints is the model's
// decision (findWaypoints); this file only renders them.
//
// The pod is rendered for a real cluster (the ServiceAccount token projected for the mesh CA's
// audience, the root certificate from the istio-ca-root-cert ConfigMap, a readiness probe) and
// runs unchanged in the local cluster, whose kubelet ignores volumes and probes and provides
// the token itself: istiod-lite there is started with the socket, root file and an empty token
// file (local-cluster/src/mesh.ts).
import { ports } from '@ambient/api';
import type { KubeObject } from '../model/inputs.ts';
import { gatewayNameLabel, waypointGatewayClass } from '../model/labels.ts';
import type { Waypoint } from '../model/waypoints.ts';

export const WAYPOINT_CONTROLLER = 'istio.io/mesh-controller';
export const WAYPOINT_IMAGE = 'ambient/waypoint:local';

/** Where the Deployment mounts the istio-ca-root-cert ConfigMap and the projected token. */
export const waypointRootCertDir = '/var/run/secrets/istio';
export const waypointTokenDir = '/var/run/secrets/tokens';
/** The audience of the projected token: the mesh CA's, as Istio's proxies use. */
export const waypointTokenAudience = 'istio-ca';

/** What the waypoint container is told about reaching the control plane (istiod-lite's --waypoint-* flags). */
export interface WaypointPodOptions {
  /** ISTIOD_ADDRESS: host:port, or unix:<path>. */
  istiodAddress: string;
  /** ROOT_CERT_FILE: the mesh root the waypoint verifies istiod-lite and peers with. */
  rootCertFile: string;
  /** AMBIENT_SA_TOKEN_FILE; '' sets nothing, for a kubelet that provides it (the local cluster's). */
  tokenFile: string;
  /** TRUST_DOMAIN: the mesh's (istiod-lite --trust-domain). */
  trustDomain: string;
}

export const defaultWaypointPodOptions: WaypointPodOptions = {
  istiodAddress: `istiod.istio-system.svc:${ports.istiodGrpc}`,
  rootCertFile: `${waypointRootCertDir}/root-cert.pem`,
  tokenFile: `${waypointTokenDir}/istio-token`,
  trustDomain: 'cluster.local',
};

export function waypointGatewayClassObject(): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: waypointGatewayClass },
    spec: { controllerName: WAYPOINT_CONTROLLER, description: 'The default Istio waypoint GatewayClass' },
  };
}

/** ServiceAccount, Deployment and Service for a waypoint of the model. */
export function waypointObjects(wp: Waypoint, pod: WaypointPodOptions): KubeObject[] {
  const { name, namespace } = wp;
  const uid = wp.gateway.metadata?.uid;
  // Without the Gateway's uid nothing could be owned by it, so nothing would ever be removed;
  // objects read from the API server always have one.
  if (!uid || !name || !namespace) return [];
  const ownerReferences = [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name, uid, controller: true, blockOwnerDeletion: true }];
  const labels = {
    [gatewayNameLabel]: name,
    'gateway.istio.io/managed': 'istio.io-mesh-controller',
    // A waypoint is not captured by ztunnel: its traffic already is HBONE.
    'istio.io/dataplane-mode': 'none',
  };
  const metadata = { name, namespace, labels, ownerReferences };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        // No replicas, as Istio renders it: the API server starts at 1, and `kubectl scale` or an
        // HPA owns the count from there (server-side apply never resets a field it does not set).
        selector: { matchLabels: { [gatewayNameLabel]: name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            containers: [
              {
                name: 'waypoint',
                image: WAYPOINT_IMAGE,
                command: ['ambient-waypoint'],
                // Literal values and fieldRefs only: the local kubelet refuses other sources.
                env: [
                  { name: 'GATEWAY_NAME', value: name },
                  { name: 'GATEWAY_NAMESPACE', value: namespace },
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'ISTIOD_ADDRESS', value: pod.istiodAddress },
                  { name: 'ROOT_CERT_FILE', value: pod.rootCertFile },
                  { name: 'TRUST_DOMAIN', value: pod.trustDomain },
                  ...(pod.tokenFile ? [{ name: 'AMBIENT_SA_TOKEN_FILE', value: pod.tokenFile }] : []),
                ],
                ports: [
                  { name: 'mesh', containerPort: ports.hbone, protocol: 'TCP' },
                  { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
                  { name: 'status-port', containerPort: ports.readiness, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/healthz/ready', port: ports.readiness }, periodSeconds: 5, failureThreshold: 4 },
                volumeMounts: [
                  { name: 'istiod-ca-cert', mountPath: waypointRootCertDir, readOnly: true },
                  { name: 'istio-token', mountPath: waypointTokenDir, readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
              {
                name: 'istio-token',
                projected: { sources: [{ serviceAccountToken: { path: 'istio-token', audience: waypointTokenAudience, expirationSeconds: 43200 } }] },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata,
      spec: {
        type: 'ClusterIP',
        selector: { [gatewayNameLabel]: name },
        ports: [{ name: 'mesh', port: ports.hbone, targetPort: ports.hbone, protocol: 'TCP' }],
      },
    },
  ];
}
