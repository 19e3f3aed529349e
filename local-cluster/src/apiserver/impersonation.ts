// `Impersonate-*` headers (what `kubectl --as`/`--as-group` send), as kube-apiserver's
// impersonation filter handles them: the caller must be allowed the `impersonate` verb on each
// thing it claims (users, groups, serviceaccounts, uids, userextras/<key>), then the request
// runs as the impersonated user. Pure: the permission check is injected.
import { badRequest } from '../apimachinery/errors.ts';
import { forbidden } from './rbac-authorizer.ts';
import type { ResourceAttributes } from './request-attributes.ts';
import type { UserInfo } from './service-account-tokens.ts';

const AUTHENTICATED = 'system:authenticated';
const EXTRA_PREFIX = 'impersonate-extra-';

/** Header name → values, as Node's `req.headersDistinct` gives them. */
export type HeaderLists = Record<string, string[] | undefined>;

/**
 * The user a request acts as: `caller` when it carries no `Impersonate-*` header, the
 * impersonated user otherwise. Throws 403 (kube's message, naming the first refused claim)
 * when `allowed` refuses one, 400 for groups, uid or extras without `Impersonate-User`.
 */
export function impersonatedUser(caller: UserInfo, headers: HeaderLists, allowed: (attrs: ResourceAttributes) => boolean): UserInfo {
  const username = headers['impersonate-user']?.[0];
  const groups = headers['impersonate-group'] ?? [];
  const uid = headers['impersonate-uid']?.[0];
  const extra: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    if (name.startsWith(EXTRA_PREFIX) && values) extra[decodeExtraKey(name.slice(EXTRA_PREFIX.length))] = values;
  }
  const extraKeys = Object.keys(extra);
  if (username === undefined) {
    if (groups.length > 0 || uid !== undefined || extraKeys.length > 0) {
      throw badRequest(
        `requested impersonation of ${groups.length > 0 ? `groups ${JSON.stringify(groups)}` : uid !== undefined ? `uid ${JSON.stringify(uid)}` : `extra ${JSON.stringify(extraKeys)}`} without impersonating a user`,
      );
    }
    return caller;
  }
  const check = (attrs: ResourceAttributes): void => {
    if (!allowed(attrs)) throw forbidden(caller.username, attrs);
  };
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (sa) check(impersonate('', 'serviceaccounts', sa[1]!, sa[2]!));
  else check(impersonate('', 'users', '', username));
  for (const g of groups) check(impersonate('', 'groups', '', g));
  if (uid !== undefined) check(impersonate('authentication.k8s.io', 'uids', '', uid));
  for (const key of extraKeys) for (const v of extra[key]!) check({ ...impersonate('authentication.k8s.io', 'userextras', '', v), subresource: key });

  const effectiveGroups = [...groups];
  // A ServiceAccount impersonated without explicit groups gets the groups its token would carry.
  if (sa && groups.length === 0) effectiveGroups.push('system:serviceaccounts', `system:serviceaccounts:${sa[1]}`);
  if (username !== 'system:anonymous' && !effectiveGroups.includes(AUTHENTICATED)) effectiveGroups.push(AUTHENTICATED);
  const user: UserInfo = { username, uid: uid ?? '', groups: effectiveGroups };
  if (extraKeys.length > 0) user.extra = extra;
  return user;
}

function impersonate(apiGroup: string, resource: string, namespace: string, name: string): ResourceAttributes {
  return { kind: 'resource', verb: 'impersonate', apiGroup, apiVersion: 'v1', resource, subresource: '', namespace, name };
}

/** Extra keys travel percent-encoded in header names (kube: `Impersonate-Extra-<url-escaped key>`). */
function decodeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}
