// SelfSubjectAccessReview ("can I?", what `kubectl auth can-i` asks) and SubjectAccessReview
// ("can they?"), answered by the same RBAC decision that guards every request. Pure.
import { invalid } from '../apimachinery/errors.ts';
import { authorize, type RbacPolicy } from './rbac-authorizer.ts';
import type { RequestAttributes } from './request-attributes.ts';
import type { UserInfo } from './service-account-tokens.ts';

export const AUTHORIZATION_GROUP = 'authorization.k8s.io';

export type AccessReviewKind = 'SelfSubjectAccessReview' | 'SubjectAccessReview';

/**
 * Answers a review. A SelfSubjectAccessReview is about `caller` (after impersonation, so
 * `kubectl auth can-i --as bob` asks about bob); a SubjectAccessReview about the user and
 * groups its spec names, exactly as given (kube adds no implicit group there).
 */
export function accessReview(kind: AccessReviewKind, body: unknown, caller: UserInfo, policy: RbacPolicy): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  const attrs = reviewAttributes(kind, spec);
  let subject = caller;
  if (kind === 'SubjectAccessReview') {
    const user = typeof spec.user === 'string' ? spec.user : '';
    const groups = Array.isArray(spec.groups) ? spec.groups.filter((g): g is string => typeof g === 'string') : [];
    if (user === '' && groups.length === 0) {
      throw invalid(
        kind,
        '',
        [{ reason: 'FieldValueInvalid', field: 'spec.user', message: 'Invalid value: "": at least one of user or group must be specified' }],
        AUTHORIZATION_GROUP,
      );
    }
    subject = { username: user, uid: typeof spec.uid === 'string' ? spec.uid : '', groups };
  }
  const decision = authorize(subject, attrs, policy);
  const status: Record<string, unknown> = { allowed: decision.allowed };
  if (decision.reason) status.reason = decision.reason;
  return { kind, apiVersion: `${AUTHORIZATION_GROUP}/v1`, metadata: { creationTimestamp: null }, spec, status };
}

/** The attributes a review's spec asks about; exactly one of resourceAttributes and nonResourceAttributes. */
function reviewAttributes(kind: AccessReviewKind, spec: Record<string, unknown>): RequestAttributes {
  const res = spec.resourceAttributes;
  const nonRes = spec.nonResourceAttributes;
  if (isObj(res) && isObj(nonRes)) {
    throw invalid(
      kind,
      '',
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.nonResourceAttributes',
          message: 'Invalid value: "object": cannot be specified in combination with resourceAttributes',
        },
      ],
      AUTHORIZATION_GROUP,
    );
  }
  if (isObj(nonRes)) return { kind: 'non-resource', verb: str(nonRes.verb), path: str(nonRes.path) };
  if (!isObj(res)) {
    throw invalid(
      kind,
      '',
      [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.resourceAttributes',
          message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
        },
      ],
      AUTHORIZATION_GROUP,
    );
  }
  return {
    kind: 'resource',
    verb: str(res.verb),
    apiGroup: str(res.group),
    apiVersion: str(res.version),
    resource: str(res.resource),
    subresource: str(res.subresource),
    namespace: str(res.namespace),
    name: str(res.name),
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
