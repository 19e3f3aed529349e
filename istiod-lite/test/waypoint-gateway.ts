// The waypoint Gateway users apply (gatewayClassName istio-waypoint, the HBONE listener on
// 15008), created through the API as kubectl would: shared by the tests that need one.
import type { CustomObjectsApi } from '@kubernetes/client-node';

export function createWaypointGateway(custom: CustomObjectsApi, namespace: string, name = 'waypoint'): Promise<object> {
  return custom.createNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace,
    plural: 'gateways',
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    },
  });
}
