// Pure: what a waypoint Gateway becomes in Kubernetes, as Istio's deployment controller
// renders it: a ServiceAccount (the waypoint's SPIFFE identity), a Deployment running the
// waypoint, and a Service on the HBONE port, all owned by the Gateway so deleting it lets the
// API server's garbage collector remove them. Which Gateways are waypoints is the model's
// decision (findWaypoints); this file only renders them.
//
// The pod's way to the control plane (env, root certificate, token) is proxy-pod.ts's, shared
// with injected sidecars.
import { ports } from '@ambient/api';
import type { KubeObject } from '../model/inputs.ts';
import { gatewayNameLabel, waypointGatewayClass } from '@ambient/api';
import type { Waypoint } from '../model/waypoints.ts';
import { controlPlaneEnv, controlPlaneVolumeMounts, controlPlaneVolumes, fieldRefEnv, type ProxyPodOptions } from '../proxy-pod.ts';

export const WAYPOINT_CONTROLLER = 'istio.io/mesh-controller';
export const WAYPOINT_IMAGE = 'ambient/waypoint:local';

export function waypointGatewayClassObject(): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GatewayClass',
    metadata: { name: waypointGatewayClass },
    spec: { controllerName: WAYPOINT_CONTROLLER, description: 'The default Istio waypoint GatewayClass' },
  };
}

/** ServiceAccount, Deployment and Service for a waypoint of the model. */
export function waypointObjects(wp: Waypoint, pod: ProxyPodOptions): KubeObject[] {
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
                  fieldRefEnv('POD_NAME', 'metadata.name'),
                  fieldRefEnv('POD_NAMESPACE', 'metadata.namespace'),
                  ...controlPlaneEnv(pod),
                ],
                ports: [
                  { name: 'mesh', containerPort: ports.hbone, protocol: 'TCP' },
                  { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
                  { name: 'status-port', containerPort: ports.readiness, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/healthz/ready', port: ports.readiness }, periodSeconds: 5, failureThreshold: 4 },
                volumeMounts: controlPlaneVolumeMounts(),
              },
            ],
            volumes: controlPlaneVolumes(),
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
