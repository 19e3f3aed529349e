// targetRefs of a policy-attachment object (Gateway API GEP-713): which objects of the policy's
// own namespace it attaches to. The kinds each policy accepts are its own; the shape is shared.
import { InvalidPolicyField, list, object, show } from './spec-fields.ts';

export type PolicyTargetKind = 'Gateway' | 'HTTPRoute' | 'GRPCRoute' | 'Service';

export interface PolicyTarget {
  kind: PolicyTargetKind;
  /** In the policy's namespace. */
  name: string;
  /** A listener or port name; kept as given. */
  sectionName?: string;
}

const groupOf: Record<PolicyTargetKind, string> = {
  Gateway: 'gateway.networking.k8s.io',
  HTTPRoute: 'gateway.networking.k8s.io',
  GRPCRoute: 'gateway.networking.k8s.io',
  Service: '',
};

export const MAX_TARGET_REFS = 16;
/** An object name: an RFC 1123 subdomain, as Kubernetes requires of most kinds. */
const objectName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * `spec.targetRefs` (1–16), or the older single `spec.targetRef` when `targetRefs` is absent.
 * A reference's group must match its kind (an absent group means the kind's own group, and ""
 * for Service).
 */
export function parseTargetRefs(spec: Record<string, unknown>, kinds: readonly PolicyTargetKind[]): PolicyTarget[] {
  const field = spec.targetRefs === undefined && spec.targetRef !== undefined ? 'spec.targetRef' : 'spec.targetRefs';
  const refs = field === 'spec.targetRef' ? [spec.targetRef] : list(spec.targetRefs, field, 1, MAX_TARGET_REFS);
  return refs.map((ref, i) => {
    const at = field === 'spec.targetRef' ? field : `${field}[${i}]`;
    const r = object(ref, at);
    if (typeof r.kind !== 'string' || !(kinds as readonly string[]).includes(r.kind)) {
      throw new InvalidPolicyField(`${at}.kind`, `${show(r.kind)}: expected one of ${kinds.join(', ')}`);
    }
    const kind = r.kind as PolicyTargetKind;
    if (r.group !== undefined && r.group !== groupOf[kind]) {
      throw new InvalidPolicyField(`${at}.group`, `${show(r.group)}: a ${kind} is in group "${groupOf[kind]}"`);
    }
    if (typeof r.name !== 'string' || r.name.length > 253 || !objectName.test(r.name))
      throw new InvalidPolicyField(`${at}.name`, `${show(r.name)}: not an object name`);
    const target: PolicyTarget = { kind, name: r.name };
    if (r.sectionName !== undefined) {
      if (typeof r.sectionName !== 'string' || r.sectionName === '')
        throw new InvalidPolicyField(`${at}.sectionName`, `${show(r.sectionName)}: expected a name`);
      target.sectionName = r.sectionName;
    }
    return target;
  });
}
