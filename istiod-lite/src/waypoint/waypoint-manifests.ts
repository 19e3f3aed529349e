// Pure: what a waypoint Gateway becomes in Kubernetes, as Istio's deployment controller
// renders it: a ServiceAccount (the waypoint's SPIFFE identity), a Deployment running the
// waypoint, and a Service on the HBONE port, all owned by the Gateway so deleting it lets the
// API server's garbage collector remove them.
import type { KubeObject } from '../model/inputs.ts';

export const WAYPOINT_CLASS = 'istio-waypoint';
export const WAYPOINT_CONTROLLER = 'istio.io/mesh-controller';
export const WAYPOINT_IMAGE = 'ambient/waypoint:local';
export const HBONE_PORT = 15008;
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

export function isWaypointGateway(gw: KubeObject): boolean {
  return gw.spec?.gatewayClassName === WAYPOINT_CLASS && !!gw.metadata?.name && !!gw.metadata?.namespace && !!gw.metadata?.uid;
}

export function waypointGatewayClass(): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: WAYPOINT_CLASS },
    spec: { controllerName: WAYPOINT_CONTROLLER, description: 'The default Istio waypoint GatewayClass' },
  };
}

/** ServiceAccount, Deployment and Service for a waypoint Gateway (see isWaypointGateway). */
export function waypointObjects(gw: KubeObject): KubeObject[] {
  const name = gw.metadata!.name!;
  const namespace = gw.metadata!.namespace!;
  const ownerReferences = [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name, uid: gw.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
  const labels = {
    [GATEWAY_NAME_LABEL]: name,
    'gateway.istio.io/managed': 'istio.io-mesh-controller',
    // A waypoint is not captured by ztunnel: its traffic already is HBONE.
    'istio.io/dataplane-mode': 'none',
  };
  const metadata = { name, namespace, labels, ownerReferences };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata,
      spec: {
        replicas: 1,
        selector: { matchLabels: { [GATEWAY_NAME_LABEL]: name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            containers: [{
              name: 'waypoint',
              image: WAYPOINT_IMAGE,
              command: ['ambient-waypoint'],
              env: [
                { name: 'GATEWAY_NAME', value: name },
                { name: 'GATEWAY_NAMESPACE', value: namespace },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              ],
              ports: [{ name: 'mesh', containerPort: HBONE_PORT, protocol: 'TCP' }],
            }],
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service', metadata,
      spec: { type: 'ClusterIP', selector: { [GATEWAY_NAME_LABEL]: name }, ports: [{ name: 'mesh', port: HBONE_PORT, targetPort: HBONE_PORT, protocol: 'TCP' }] },
    },
  ];
}
