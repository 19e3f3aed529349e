// The kubectl commands fixes suggest, spelled one way everywhere.
import type { KubeObject } from './finding.ts';
import { nameOf, namespaceOf } from './kube-fields.ts';

export type LabelKind = 'namespace' | 'service' | 'pod' | 'gateway';

/** `kubectl label service reviews -n shop a=b --overwrite`; "a-" removes a label. */
export function kubectlLabel(kind: LabelKind, o: KubeObject, assignment: string): string {
  const where = kind === 'namespace' ? '' : ` -n ${namespaceOf(o)}`;
  const overwrite = assignment.endsWith('-') ? '' : ' --overwrite';
  return `kubectl label ${kind} ${nameOf(o)}${where} ${assignment}${overwrite}`;
}

/** For an object known only by name (a namespace the analysis was not given). */
export function named(name: string, namespace?: string): KubeObject {
  return { metadata: namespace === undefined ? { name } : { name, namespace } };
}

export function waypointApply(namespace: string, name: string): string {
  return `kubectl ambient waypoint apply -n ${namespace} --name ${name}`;
}
