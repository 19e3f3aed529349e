// `limit`/`continue` on lists (kubectl's --chunk-size, client-go's pager). A page is the next
// `limit` objects in key order (`namespace/name`) after the last one the token names. The store
// keeps no snapshots, so later pages show objects as they are when asked, not as they were at
// the first page's resourceVersion (which every page still reports, as Kubernetes does).
import { badRequest } from '../apimachinery/errors.ts';
import type { KubeObject } from '../apimachinery/types.ts';

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

interface ContinueToken {
  v: 1;
  rv: string; // the first page's resourceVersion
  start: string; // the last key served; the next page starts after it
}

/**
 * One page of `items` (already sorted by key). `selected` says whether a label or field
 * selector filtered them: Kubernetes leaves remainingItemCount out then, as a count of the
 * unfiltered rest would mislead.
 */
export function pageOf(items: KubeObject[], resourceVersion: string, query: { limit?: string | null; continue?: string | null }, selected: boolean): ListPage {
  const limit = parseLimit(query.limit);
  let rv = resourceVersion;
  let rest = items;
  if (query.continue) {
    const token = parseToken(query.continue);
    rv = token.rv;
    rest = items.filter((o) => listKey(o) > token.start);
  }
  if (limit === undefined || rest.length <= limit) return { items: rest, resourceVersion: rv };
  const page = rest.slice(0, limit);
  const token: ContinueToken = { v: 1, rv, start: listKey(page[page.length - 1]!) };
  return {
    items: page,
    resourceVersion: rv,
    continue: Buffer.from(JSON.stringify(token)).toString('base64url'),
    ...(selected ? {} : { remainingItemCount: rest.length - limit }),
  };
}

/** The key lists are sorted by: `namespace/name` as one string, the order of etcd's keys. */
export function listKey(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

function parseLimit(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`limit must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n === 0 ? undefined : n; // 0 = no limit, as in Kubernetes
}

function parseToken(raw: string): ContinueToken {
  let token: Partial<ContinueToken> | undefined;
  try {
    token = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<ContinueToken>;
  } catch {
    token = undefined;
  }
  if (token?.v !== 1 || typeof token.rv !== 'string' || typeof token.start !== 'string') {
    throw badRequest(`continue key is not valid: ${JSON.stringify(raw.slice(0, 64))} was not issued by this server`);
  }
  return token as ContinueToken;
}
