// Whether ztunnel captures a pod's traffic (Istio's rules), which decides whether ztunnel policy
// and waypoints apply to it at all.
import type { KubeObject } from './finding.ts';
import { labelsOf } from './kube-fields.ts';
import { dataplaneModeLabel, sidecarStatusAnnotation } from '@ambient/api';

export function namespaceInMesh(namespace: KubeObject | undefined): boolean {
  return labelsOf(namespace)[dataplaneModeLabel] === 'ambient';
}

export function hasSidecar(pod: KubeObject): boolean {
  return typeof pod.metadata?.annotations?.[sidecarStatusAnnotation] === 'string';
}

/**
 * The pod's own label wins over its namespace's ("none" opts one pod out). Host-network pods
 * share the node's network and are never captured; sidecar pods handle their own traffic.
 */
export function capturedByZtunnel(pod: KubeObject, namespace: KubeObject | undefined): boolean {
  if (pod.spec?.hostNetwork === true || hasSidecar(pod)) return false;
  const own = labelsOf(pod)[dataplaneModeLabel];
  if (own !== undefined) return own === 'ambient';
  return namespaceInMesh(namespace);
}
