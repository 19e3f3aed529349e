// RBAC authorization as kube-apiserver's `--authorization-mode=RBAC` does it: a request is
// allowed when a ClusterRoleBinding (anywhere) or a RoleBinding (in the request's namespace)
// binds the caller to a role with a rule that matches it; nothing else is allowed. Members of
// `system:masters` are allowed everything before RBAC is consulted (kube's privileged-group
// authorizer), so deleting a binding can never lock the cluster's administrator out.
// Pure over an RbacPolicy: the HTTP boundary reads the policy from the store.
import { ApiError } from '../apimachinery/errors.ts';
import type { KubeObject } from '../apimachinery/types.ts';
import type { RequestAttributes } from './request-attributes.ts';
import type { UserInfo } from './service-account-tokens.ts';
import { resourceKey, type Store } from './store.ts';

export const MASTERS_GROUP = 'system:masters';
export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** The RBAC objects a decision reads. */
export interface RbacPolicy {
  clusterRoleBindings(): Iterable<KubeObject>;
  roleBindings(namespace: string): Iterable<KubeObject>;
  clusterRole(name: string): KubeObject | undefined;
  role(namespace: string, name: string): KubeObject | undefined;
}

/** `reason` says which binding allowed (kube's wording, shown by SubjectAccessReviews); '' on a denial. */
export interface Decision {
  allowed: boolean;
  reason: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

interface Subject {
  kind: string;
  name: string;
  namespace: string;
}

const DENIED: Decision = { allowed: false, reason: '' };
const MASTER: Decision = { allowed: true, reason: '' };

export function authorize(user: UserInfo, attrs: RequestAttributes, policy: RbacPolicy): Decision {
  if (user.groups.includes(MASTERS_GROUP)) return MASTER;
  for (const binding of policy.clusterRoleBindings()) {
    const roleRef = refOf(binding);
    // A ClusterRoleBinding can only refer to a ClusterRole (kube's validation refuses a Role).
    if (roleRef.kind !== 'ClusterRole') continue;
    const subject = matchingSubject(binding, user, '');
    if (!subject) continue;
    if (rulesAllow(policy.clusterRole(roleRef.name), attrs)) {
      return {
        allowed: true,
        reason: `RBAC: allowed by ClusterRoleBinding ${q(bindingName(binding))} of ClusterRole ${q(roleRef.name)} to ${describe(subject, '')}`,
      };
    }
  }
  // RoleBindings only grant inside their namespace; a cluster-scoped request or a list across
  // all namespaces has namespace '' and is never granted by one.
  if (attrs.kind === 'resource' && attrs.namespace !== '') {
    for (const binding of policy.roleBindings(attrs.namespace)) {
      const roleRef = refOf(binding);
      const subject = matchingSubject(binding, user, attrs.namespace);
      if (!subject) continue;
      const role =
        roleRef.kind === 'ClusterRole' ? policy.clusterRole(roleRef.name) : roleRef.kind === 'Role' ? policy.role(attrs.namespace, roleRef.name) : undefined;
      if (rulesAllow(role, attrs)) {
        return {
          allowed: true,
          reason: `RBAC: allowed by RoleBinding ${q(`${bindingName(binding)}/${attrs.namespace}`)} of ${roleRef.kind} ${q(roleRef.name)} to ${describe(subject, attrs.namespace)}`,
        };
      }
    }
  }
  return DENIED;
}

/**
 * kube-apiserver's 403 for a denied request, word for word (responsewriters.Forbidden):
 * `pods "web" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default"`.
 */
export function forbidden(username: string, attrs: RequestAttributes): ApiError {
  if (attrs.kind === 'non-resource') {
    return new ApiError('Forbidden', `forbidden: User ${q(username)} cannot ${attrs.verb} path ${q(attrs.path)}`, {});
  }
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const scope = attrs.namespace ? `in the namespace ${q(attrs.namespace)}` : 'at the cluster scope';
  const why = `User ${q(username)} cannot ${attrs.verb} resource ${q(resource)} in API group ${q(attrs.apiGroup)} ${scope}`;
  const qualified = attrs.apiGroup ? `${attrs.resource}.${attrs.apiGroup}` : attrs.resource;
  const message = attrs.name ? `${qualified} ${q(attrs.name)} is forbidden: ${why}` : `${qualified} is forbidden: ${why}`;
  const details: { name?: string; group: string; kind: string } = { group: attrs.apiGroup, kind: attrs.resource };
  if (attrs.name) details.name = attrs.name;
  return new ApiError('Forbidden', message, details);
}

/** The policy as the store holds it right now: a write to a binding applies to the next request. */
export function storePolicy(store: Store): RbacPolicy {
  const crbs = resourceKey({ group: RBAC_GROUP, plural: 'clusterrolebindings' });
  const rbs = resourceKey({ group: RBAC_GROUP, plural: 'rolebindings' });
  const crs = resourceKey({ group: RBAC_GROUP, plural: 'clusterroles' });
  const roles = resourceKey({ group: RBAC_GROUP, plural: 'roles' });
  return {
    clusterRoleBindings: () => store.list(crbs, '').items,
    roleBindings: (namespace) => store.list(rbs, namespace).items,
    clusterRole: (name) => store.get(crs, '', name),
    role: (namespace, name) => store.get(roles, namespace, name),
  };
}

function rulesAllow(role: KubeObject | undefined, attrs: RequestAttributes): boolean {
  const rules = role?.rules;
  if (!Array.isArray(rules)) return false;
  for (const raw of rules) if (ruleAllows(policyRule(raw), attrs)) return true;
  return false;
}

/** kube's rbac.RuleAllows: verb, then group/resource/name for resources, or the URL for paths. */
export function ruleAllows(rule: PolicyRule, attrs: RequestAttributes): boolean {
  if (!hasOrStar(rule.verbs, attrs.verb)) return false;
  if (attrs.kind === 'non-resource') return rule.nonResourceURLs.some((url) => urlMatches(url, attrs.path));
  if (!hasOrStar(rule.apiGroups, attrs.apiGroup)) return false;
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  // `pods` does not grant `pods/status`: a subresource is named on its own, or by `*/status`.
  const resourceOk = rule.resources.some((r) => r === '*' || r === combined || (attrs.subresource !== '' && r === `*/${attrs.subresource}`));
  if (!resourceOk) return false;
  // resourceNames restrict to named objects: a list or create (no name) never matches them.
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(attrs.name);
}

function urlMatches(ruleUrl: string, path: string): boolean {
  if (ruleUrl === '*' || ruleUrl === path) return true;
  return ruleUrl.endsWith('*') && path.startsWith(ruleUrl.slice(0, -1));
}

function hasOrStar(list: string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

/** The subject of `binding` that is `user`; a ServiceAccount subject without a namespace is in the binding's. */
function matchingSubject(binding: KubeObject, user: UserInfo, bindingNamespace: string): Subject | undefined {
  const subjects = binding.subjects;
  if (!Array.isArray(subjects)) return undefined;
  for (const raw of subjects) {
    const s = subjectOf(raw);
    switch (s.kind) {
      case 'User':
        if (s.name === user.username) return s;
        break;
      case 'Group':
        if (user.groups.includes(s.name)) return s;
        break;
      case 'ServiceAccount': {
        const ns = s.namespace || bindingNamespace;
        if (ns !== '' && user.username === `system:serviceaccount:${ns}:${s.name}`) return s;
        break;
      }
    }
  }
  return undefined;
}

/** kube's describeSubject: `User "bob"`, `ServiceAccount "ns/name"`. */
function describe(s: Subject, bindingNamespace: string): string {
  return s.kind === 'ServiceAccount' ? `${s.kind} ${q(`${s.namespace || bindingNamespace}/${s.name}`)}` : `${s.kind} ${q(s.name)}`;
}

function policyRule(raw: unknown): PolicyRule {
  const r = isObj(raw) ? raw : {};
  return {
    verbs: strings(r.verbs),
    apiGroups: strings(r.apiGroups),
    resources: strings(r.resources),
    resourceNames: strings(r.resourceNames),
    nonResourceURLs: strings(r.nonResourceURLs),
  };
}

function subjectOf(raw: unknown): Subject {
  const s = isObj(raw) ? raw : {};
  return { kind: str(s.kind), name: str(s.name), namespace: str(s.namespace) };
}

function refOf(binding: KubeObject): { kind: string; name: string } {
  const r = isObj(binding.roleRef) ? binding.roleRef : {};
  return { kind: str(r.kind), name: str(r.name) };
}

function bindingName(binding: KubeObject): string {
  return binding.metadata.name ?? '';
}

/** Go's %q for the plain names these messages carry. */
function q(s: string): string {
  return JSON.stringify(s);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
