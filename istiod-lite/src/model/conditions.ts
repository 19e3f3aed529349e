// Status conditions as the status writer applies them (Kubernetes metav1.Condition shape, minus
// lastTransitionTime, which the writer owns because only it knows when a value changed).

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
}

export function condition(type: string, ok: boolean, reason: string, message: string, generation?: number): Condition {
  const c: Condition = { type, status: ok ? 'True' : 'False', reason, message };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}
